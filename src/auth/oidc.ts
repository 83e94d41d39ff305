import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import { DomainError } from "../domain/errors.js";
import { describeJoseError, identityOf, type TokenIdentity, type TokenVerifier } from "./tokens.js";

/**
 * Asymmetric algorithms only: with a symmetric algorithm allowed, a token MACed with the
 * provider's *public* key as the secret would verify. `none` is never accepted.
 */
export const OIDC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "EdDSA",
  "Ed25519",
];

const FETCH_TIMEOUT_MS = 5_000;

export interface OidcOptions {
  issuer: string;
  /** Accepted `aud` values (any one of them). */
  audiences: readonly string[];
  /** Where the keys are; default: `jwks_uri` of `<issuer>/.well-known/openid-configuration`. */
  jwksUrl: string | undefined;
  clockSkewSec: number;
  /** Least time between two key-set fetches caused by tokens naming an unknown `kid`. */
  cooldownMs: number;
  now: () => number;
}

const unavailable = () =>
  new DomainError(
    "ServiceUnavailable",
    "the identity provider's signing keys could not be fetched; retry in a moment.",
  );

/** Errors of the key lookup that are the token's fault (401); anything else is the provider's (503). */
const tokenFault = (e: unknown) =>
  e instanceof joseErrors.JWKSNoMatchingKey ||
  e instanceof joseErrors.JWKSMultipleMatchingKeys ||
  e instanceof joseErrors.JOSENotSupported ||
  e instanceof joseErrors.JOSEAlgNotAllowed;

/**
 * OIDC mode: tokens from any OpenID Connect provider, verified by issuer, audience and the
 * provider's JWKS. jose's remote key set caches the keys and refetches them when a token names
 * an unknown `kid` (a key rotation at the provider), no more often than the cooldown.
 */
export class OidcTokens implements TokenVerifier {
  private keySet: JWTVerifyGetKey | undefined;
  private discovery: Promise<JWTVerifyGetKey> | undefined;
  private failedAt = Number.NEGATIVE_INFINITY;
  private remote: { jwks(): unknown } | undefined;

  constructor(private readonly opts: OidcOptions) {}

  private async discover(): Promise<JWTVerifyGetKey> {
    let url = this.opts.jwksUrl;
    if (url === undefined) {
      const res = await fetch(`${this.opts.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        redirect: "manual",
        headers: { accept: "application/json" },
      });
      if (res.status !== 200) throw new Error(`discovery answered HTTP ${res.status}`);
      const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
      // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
      if (doc.issuer !== this.opts.issuer) throw new Error(`discovery names issuer ${String(doc.issuer)}`);
      if (typeof doc.jwks_uri !== "string" || !URL.canParse(doc.jwks_uri))
        throw new Error("discovery names no jwks_uri");
      url = doc.jwks_uri;
    }
    const remote = createRemoteJWKSet(new URL(url), {
      cooldownDuration: this.opts.cooldownMs,
      timeoutDuration: FETCH_TIMEOUT_MS,
    });
    this.remote = remote;
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (e) {
        if (tokenFault(e)) throw e;
        throw unavailable();
      }
    };
  }

  /** The key set, discovering it once; after a failed discovery, retries only after the cooldown. */
  private async keys(): Promise<JWTVerifyGetKey> {
    if (this.keySet) return this.keySet;
    if (!this.discovery) {
      if (Date.now() - this.failedAt < this.opts.cooldownMs) throw unavailable();
      this.discovery = this.discover().then(
        (k) => {
          this.keySet = k;
          return k;
        },
        () => {
          this.failedAt = Date.now();
          this.discovery = undefined;
          throw unavailable();
        },
      );
    }
    return this.discovery;
  }

  /** The provider's key set as last fetched (jose replaces it on every fetch). */
  currentKeys(): unknown {
    return this.remote?.jwks();
  }

  async verify(token: string): Promise<TokenIdentity> {
    try {
      // Refuse a disallowed algorithm before anything could make tally fetch keys.
      const { alg } = decodeProtectedHeader(token);
      if (typeof alg !== "string" || !OIDC_ALGORITHMS.includes(alg))
        throw new joseErrors.JOSEAlgNotAllowed("algorithm not allowed");
      const keys = await this.keys();
      const { payload } = await jwtVerify(token, keys, {
        issuer: this.opts.issuer,
        audience: [...this.opts.audiences],
        algorithms: OIDC_ALGORITHMS,
        clockTolerance: this.opts.clockSkewSec,
        currentDate: new Date(this.opts.now()),
        requiredClaims: ["exp"],
      });
      return identityOf(payload);
    } catch (e) {
      throw describeJoseError(e);
    }
  }
}
