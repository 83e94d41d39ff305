import {
  type CryptoKey,
  createLocalJWKSet,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from "jose";
import { DomainError } from "../domain/errors.js";
import { importKey, loadOrCreateKeys, publicJwk, SIGNING_ALG, type StoredKey } from "./signing-keys.js";

/** What a verified bearer token says about its holder. */
export interface TokenIdentity {
  subject: string;
  /** The directory (tenant id) the token was issued for, from `tid`. */
  directoryId: string | undefined;
  name: string | undefined;
}

export interface TokenVerifier {
  verify(token: string): Promise<TokenIdentity>;
}

export interface TokenClaims {
  subject: string;
  directoryId?: string;
  name?: string;
  ttlMs: number;
}

export class Unauthenticated extends DomainError {
  constructor(
    message: string,
    readonly bearerError: "invalid_token" | "invalid_request" | undefined = "invalid_token",
  ) {
    super("Unauthenticated", message);
  }
}

function identityOf(payload: JWTPayload): TokenIdentity {
  const sub = typeof payload.oid === "string" ? payload.oid : payload.sub;
  if (typeof sub !== "string" || sub === "")
    throw new Unauthenticated("the token names no subject (oid or sub).");
  return {
    subject: sub,
    directoryId: typeof payload.tid === "string" ? payload.tid : undefined,
    name: typeof payload.name === "string" ? payload.name : undefined,
  };
}

/** Maps jose's verification failures to a message a caller can act on (never the token itself). */
export function describeJoseError(e: unknown): Unauthenticated {
  if (e instanceof Unauthenticated) return e;
  if (e instanceof joseErrors.JWTExpired) return new Unauthenticated("the token has expired.");
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    return new Unauthenticated(`the token's '${e.claim}' claim is not acceptable (${e.reason}).`);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed)
    return new Unauthenticated("the token's signing algorithm is not accepted.");
  if (e instanceof joseErrors.JWKSNoMatchingKey)
    return new Unauthenticated("the token was signed by an unknown key.");
  if (e instanceof joseErrors.JWSSignatureVerificationFailed)
    return new Unauthenticated("the token's signature is not valid.");
  if (e instanceof joseErrors.JOSEError) return new Unauthenticated("the token is malformed or not valid.");
  return new Unauthenticated("the token is malformed or not valid.");
}

/**
 * Embedded mode: tally signs and verifies its own ES256 tokens with the keys in its data dir.
 * An unknown `kid` makes it re-read the key file once, so a rotation done by the CLI (another
 * process) is picked up without a restart.
 */
export class EmbeddedTokens implements TokenVerifier {
  private keys: StoredKey[] = [];
  private signer: { kid: string; key: CryptoKey | Uint8Array } | undefined;
  private jwks: ReturnType<typeof createLocalJWKSet> | undefined;

  constructor(
    private readonly opts: {
      dataDir: string;
      issuer: string;
      audience: string;
      clockSkewSec: number;
      now: () => number;
    },
  ) {}

  async load(): Promise<this> {
    this.keys = await loadOrCreateKeys(this.opts.dataDir, this.opts.now());
    const current = this.keys.filter((k) => k.retiredAt === undefined).at(-1) ?? this.keys.at(-1)!;
    this.signer = { kid: current.kid, key: await importKey(current) };
    this.jwks = createLocalJWKSet({ keys: this.keys.map(publicJwk) });
    return this;
  }

  /** The public keys, as a JWKS document. */
  publicKeys() {
    return { keys: this.keys.map(publicJwk) };
  }

  async sign(c: TokenClaims): Promise<string> {
    if (!this.signer) await this.load();
    const now = Math.floor(this.opts.now() / 1000);
    const jwt = new SignJWT({
      ...(c.directoryId !== undefined ? { tid: c.directoryId } : {}),
      ...(c.name !== undefined ? { name: c.name } : {}),
    })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: this.signer!.kid, typ: "JWT" })
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.audience)
      .setSubject(c.subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + Math.floor(c.ttlMs / 1000));
    return jwt.sign(this.signer!.key);
  }

  async verify(token: string): Promise<TokenIdentity> {
    if (!this.jwks) await this.load();
    const options = {
      issuer: this.opts.issuer,
      audience: this.opts.audience,
      algorithms: [SIGNING_ALG],
      clockTolerance: this.opts.clockSkewSec,
      currentDate: new Date(this.opts.now()),
      requiredClaims: ["exp", "sub"],
    };
    try {
      return identityOf((await jwtVerify(token, this.jwks!, options)).payload);
    } catch (e) {
      if (!(e instanceof joseErrors.JWKSNoMatchingKey)) throw describeJoseError(e);
    }
    await this.load();
    try {
      return identityOf((await jwtVerify(token, this.jwks!, options)).payload);
    } catch (e) {
      throw describeJoseError(e);
    }
  }
}
