import { statSync } from "node:fs";
import {
  type CryptoKey,
  createLocalJWKSet,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from "jose";
import { DomainError } from "../domain/errors.js";
import { canonicalGuid } from "../domain/ids.js";
import {
  importKey,
  keyFilePath,
  loadOrCreateKeys,
  publicJwk,
  SIGNING_ALG,
  type StoredKey,
} from "./signing-keys.js";

/** What a verified bearer token says about its holder. */
export interface TokenIdentity {
  subject: string;
  /** The directory (tenant id) the token was issued for, from `tid`. */
  directoryId: string | undefined;
  name: string | undefined;
  /** `service` for app-only tokens (`idtyp: app`, as Microsoft Entra ID issues them). */
  kind: "user" | "service";
  /** When the token stops being accepted (epoch ms): its `exp`, or earlier when its age is bounded. */
  validUntil: number;
}

export interface TokenVerifier {
  verify(token: string): Promise<TokenIdentity>;
  /**
   * The key set verification currently uses, as an object that is replaced when the keys are
   * reloaded: what a remembered verification was checked against (see `VerifiedTokens`).
   */
  currentKeys?(): unknown;
}

export interface TokenClaims {
  subject: string;
  directoryId?: string;
  name?: string;
  service?: boolean;
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

export function identityOf(payload: JWTPayload, maxTokenAgeSec?: number): TokenIdentity {
  const sub = typeof payload.oid === "string" && payload.oid !== "" ? payload.oid : payload.sub;
  if (typeof sub !== "string" || sub === "")
    throw new Unauthenticated("the token names no subject (oid or sub).");
  const tid = typeof payload.tid === "string" ? payload.tid : undefined;
  return {
    subject: sub,
    directoryId: tid === undefined ? undefined : (canonicalGuid(tid) ?? tid),
    name: typeof payload.name === "string" ? payload.name : undefined,
    kind: payload.idtyp === "app" ? "service" : "user",
    validUntil: Math.min(
      typeof payload.exp === "number" ? payload.exp * 1000 : Number.POSITIVE_INFINITY,
      typeof payload.iat === "number" && maxTokenAgeSec !== undefined
        ? (payload.iat + maxTokenAgeSec) * 1000
        : Number.POSITIVE_INFINITY,
    ),
  };
}

/** Maps jose's verification failures to a message a caller can act on (never the token itself). */
export function describeJoseError(e: unknown): DomainError {
  if (e instanceof DomainError) return e;
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
  return new Unauthenticated("the token is malformed or not valid.");
}

/** A bad token may make tally look for new keys at most this often. */
export const KEY_RELOAD_INTERVAL_MS = 5_000;

/**
 * Embedded mode: tally signs and verifies its own ES256 tokens with the keys in its data dir.
 * An unknown `kid` makes it look at the key file again, so that a rotation done by the CLI (another
 * process) is picked up without a restart; it looks at most every `KEY_RELOAD_INTERVAL_MS`, and
 * re-reads only when the file changed, so tokens with made-up key ids cannot make it read the
 * disk per request.
 */
export class EmbeddedTokens implements TokenVerifier {
  private keys: StoredKey[] = [];
  private signer: { kid: string; key: CryptoKey | Uint8Array } | undefined;
  private jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  private fileStamp = "";
  private lastLook = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly opts: {
      dataDir: string;
      issuer: string;
      audience: string;
      clockSkewSec: number;
      /** Tokens older than this are refused whatever their `exp` (bounds how long retired keys matter). */
      maxTokenAgeSec: number;
      now: () => number;
    },
  ) {}

  private stamp(): string {
    const st = statSync(keyFilePath(this.opts.dataDir));
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  }

  async load(): Promise<this> {
    this.keys = await loadOrCreateKeys(this.opts.dataDir, this.opts.now());
    this.fileStamp = this.stamp();
    const current = this.keys.filter((k) => k.retiredAt === undefined).at(-1) ?? this.keys.at(-1)!;
    this.signer = { kid: current.kid, key: await importKey(current) };
    this.jwks = createLocalJWKSet({ keys: this.keys.map(publicJwk) });
    return this;
  }

  /** Re-reads the key file if it changed, at most once per `KEY_RELOAD_INTERVAL_MS`; true if it did. */
  async reloadIfChanged(): Promise<boolean> {
    const now = this.opts.now();
    if (now - this.lastLook < KEY_RELOAD_INTERVAL_MS) return false;
    this.lastLook = now;
    let stamp: string;
    try {
      stamp = this.stamp();
    } catch {
      return false;
    }
    if (stamp === this.fileStamp) return false;
    await this.load();
    return true;
  }

  currentKeys(): unknown {
    return this.jwks;
  }

  /** The public keys, as a JWKS document (`/.well-known/jwks.json`). */
  async publicKeys(): Promise<{ keys: ReturnType<typeof publicJwk>[] }> {
    if (!this.jwks) await this.load();
    else await this.reloadIfChanged();
    return { keys: this.keys.map(publicJwk) };
  }

  async sign(c: TokenClaims): Promise<string> {
    if (!this.signer) await this.load();
    const now = Math.floor(this.opts.now() / 1000);
    const jwt = new SignJWT({
      ...(c.directoryId !== undefined ? { tid: c.directoryId } : {}),
      ...(c.name !== undefined ? { name: c.name } : {}),
      ...(c.service ? { idtyp: "app" } : {}),
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
      maxTokenAge: this.opts.maxTokenAgeSec,
      currentDate: new Date(this.opts.now()),
      requiredClaims: ["exp", "sub"],
    };
    try {
      return identityOf((await jwtVerify(token, this.jwks!, options)).payload, this.opts.maxTokenAgeSec);
    } catch (e) {
      if (!(e instanceof joseErrors.JWKSNoMatchingKey)) throw describeJoseError(e);
    }
    if (!(await this.reloadIfChanged())) throw new Unauthenticated("the token was signed by an unknown key.");
    try {
      return identityOf((await jwtVerify(token, this.jwks!, options)).payload, this.opts.maxTokenAgeSec);
    } catch (e) {
      throw describeJoseError(e);
    }
  }
}

/** How long a verified token is taken on trust before its signature is checked again. */
export const VERIFIED_TOKEN_TTL_MS = 30_000;
const MAX_VERIFIED_TOKENS = 10_000;

/**
 * Remembers the tokens a verifier accepted, by their exact text, for a few seconds, never past
 * their own expiry and only while the verifier's key set is the one they were checked against (a
 * rotation that drops a key ends its tokens at once, as before): a client paging through the
 * usage APIs sends the same token with every request, and an ES256 (or RS256) signature check
 * costs more than the rest of the authentication. A token is the same token only byte for byte,
 * so nothing unverified is ever accepted. Refusals are not remembered.
 */
export class VerifiedTokens implements TokenVerifier {
  private readonly verified = new Map<string, { identity: TokenIdentity; until: number; keys: unknown }>();

  constructor(
    private readonly inner: TokenVerifier,
    private readonly now: () => number,
  ) {}

  async verify(token: string): Promise<TokenIdentity> {
    const now = this.now();
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      if (hit.until > now && hit.keys === this.inner.currentKeys?.()) return hit.identity;
      this.verified.delete(token);
    }
    const identity = await this.inner.verify(token);
    const until = Math.min(identity.validUntil, now + VERIFIED_TOKEN_TTL_MS);
    const keys = this.inner.currentKeys?.();
    if (until > now && keys !== undefined) {
      if (this.verified.size >= MAX_VERIFIED_TOKENS) this.verified.clear();
      this.verified.set(token, { identity, until, keys });
    }
    return identity;
  }
}
