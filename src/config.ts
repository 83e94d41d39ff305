import { isIP } from "node:net";
import { resolve } from "node:path";
import { z } from "zod";
import { ROUNDING_MODES, type RoundingMode } from "./domain/rating/currency.js";
import { parseDuration } from "./domain/time.js";

/**
 * All of tally's configuration, parsed once at start-up from `TALLY_*` environment variables.
 * This is the only module that reads the environment. Empty values count as unset.
 */
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const AUTH_MODES = ["embedded", "oidc"] as const;

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `expected a duration such as 30s, 15m, 8h or 2d, got "${s}"`,
        });
        return z.NEVER;
      }
      return ms;
    });

const port = z
  .string()
  .default("8080")
  .transform((s, ctx) => {
    const n = /^\d{1,5}$/.test(s) ? Number(s) : Number.NaN;
    if (!(n >= 0 && n <= 65535)) {
      ctx.addIssue({ code: "custom", message: `expected a port number from 0 to 65535, got "${s}"` });
      return z.NEVER;
    }
    return n;
  });

const positiveInt = (fallback: string, max: number) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const n = /^\d+$/.test(s) ? Number(s) : Number.NaN;
      if (!(n >= 1 && n <= max)) {
        ctx.addIssue({ code: "custom", message: `expected a whole number from 1 to ${max}, got "${s}"` });
        return z.NEVER;
      }
      return n;
    });

const count = (fallback: string, min: number, max: number) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const n = /^\d+$/.test(s) ? Number(s) : Number.NaN;
      if (!(n >= min && n <= max)) {
        ctx.addIssue({
          code: "custom",
          message: `expected a whole number from ${min} to ${max}, got "${s}"`,
        });
        return z.NEVER;
      }
      return n;
    });

const PROXY_KEYWORDS = ["loopback", "linklocal", "uniquelocal"];

/** Addresses (IPv4/IPv6), CIDR ranges, or proxy-addr's keywords, comma-separated. */
const proxyList = z
  .string()
  .optional()
  .transform((s, ctx) => {
    if (s === undefined) return undefined;
    const items = s
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x !== "");
    for (const item of items) {
      const [addr = "", bits, extra] = item.split("/");
      const family = isIP(addr);
      const maxBits = family === 4 ? 32 : 128;
      const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits);
      if (!(PROXY_KEYWORDS.includes(item) || (family !== 0 && okBits && extra === undefined))) {
        ctx.addIssue({
          code: "custom",
          message: `expected IP addresses or CIDR ranges (or loopback, linklocal, uniquelocal), comma-separated; "${item}" is none`,
        });
        return z.NEVER;
      }
    }
    return items.length ? items : undefined;
  });

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  kib: 1024,
  mb: 1e6,
  mib: 1024 ** 2,
  gb: 1e9,
  gib: 1024 ** 3,
};

const byteSize = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const m = /^(\d+)\s*([a-z]*)$/i.exec(s);
      const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
      if (!m || unit === undefined || Number(m[1]) === 0) {
        ctx.addIssue({ code: "custom", message: `expected a size such as 16MiB or 1048576, got "${s}"` });
        return z.NEVER;
      }
      return Number(m[1]) * unit;
    });

const bool = (fallback: "true" | "false") =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const v = s.toLowerCase();
      if (["true", "1", "yes", "on"].includes(v)) return true;
      if (["false", "0", "no", "off"].includes(v)) return false;
      ctx.addIssue({ code: "custom", message: `expected true or false, got "${s}"` });
      return z.NEVER;
    });

const url = (what: string) =>
  z
    .string()
    .optional()
    .refine((s) => s === undefined || URL.canParse(s), { message: `expected ${what}` });

const schema = z.object({
  TALLY_PORT: port,
  TALLY_HOST: z.string().default("0.0.0.0"),
  TALLY_DATA_DIR: z.string().default("./data"),
  TALLY_DATABASE_URL: z.string().optional(),
  TALLY_PUBLIC_URL: url("an absolute URL such as https://tally.example.com"),
  TALLY_LOG_LEVEL: z
    .enum(LOG_LEVELS, { message: `expected one of ${LOG_LEVELS.join(", ")}` })
    .default("info"),
  TALLY_AUTH_MODE: z
    .enum(AUTH_MODES, { message: `expected one of ${AUTH_MODES.join(", ")}` })
    .default("embedded"),
  TALLY_OIDC_ISSUER: url("the identity provider's issuer URL, such as https://login.example.com/tenant/v2.0"),
  TALLY_OIDC_AUDIENCE: z.string().optional(),
  TALLY_OIDC_JWKS_URL: url("the URL of the identity provider's JWKS document"),
  TALLY_OIDC_JWKS_COOLDOWN: duration("30s"),
  TALLY_TOKEN_CLOCK_SKEW: duration("60s"),
  TALLY_TOKEN_MAX_TTL: duration("30d"),
  TALLY_TOKEN_ISSUER: z.string().default("tally"),
  TALLY_TOKEN_AUDIENCE: z.string().default("tally"),
  TALLY_TOKEN_TTL: duration("8h"),
  TALLY_SHUTDOWN_GRACE: duration("10s"),
  TALLY_INGEST_MAX_RECORDS: positiveInt("10000", 1_000_000),
  TALLY_INGEST_MAX_BYTES: byteSize("16MiB"),
  TALLY_SEAL_DELAY: duration("10s"),
  TALLY_ROUNDING: z
    .enum(ROUNDING_MODES as [RoundingMode, ...RoundingMode[]], {
      message: `expected one of ${ROUNDING_MODES.join(", ")}`,
    })
    .default("half-even"),
  TALLY_BILLING_CLOSE_GRACE: duration("24h"),
  TALLY_BILLING_FINALIZE_DELAY: z
    .string()
    .default("72h")
    .transform((s, ctx) => {
      if (s === "off") return undefined;
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `expected a duration such as 72h or 3d, or off, got "${s}"`,
        });
        return z.NEVER;
      }
      return ms;
    }),
  TALLY_BILLING_INTERVAL: duration("5m"),
  TALLY_BILLING_ISSUER: z.string().max(256).default("tally"),
  TALLY_BRIDGE_INTERVAL: duration("10s"),
  TALLY_BRIDGE_BATCH_RECORDS: positiveInt("1000", 10_000),
  TALLY_BRIDGE_TIMEOUT: duration("60s"),
  TALLY_BRIDGE_RETRY_MAX: duration("15m"),
  TALLY_BRIDGE_ALLOW_HTTP: bool("false"),
  TALLY_TLS_CERT: z.string().optional(),
  TALLY_TLS_KEY: z.string().optional(),
  TALLY_TRUSTED_PROXIES: proxyList,
  TALLY_USAGE_API_CONCURRENCY: count("8", 1, 1024),
  TALLY_USAGE_API_QUEUE: count("64", 0, 100_000),
  TALLY_SERVER: url("the URL of a tally server, such as https://tally.example.com:8443"),
  TALLY_TOKEN: z.string().optional(),
  TALLY_SOURCE_KEY: z.string().optional(),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  publicUrl: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  /** `embedded`: tally signs its own tokens; `oidc`: tokens come from an OpenID Connect provider. */
  authMode: (typeof AUTH_MODES)[number];
  oidc: { issuer: string; audiences: string[]; jwksUrl: string | undefined; cooldownMs: number } | undefined;
  tokenClockSkewMs: number;
  /** Embedded tokens older than this are refused, so retired signing keys can be dropped after it. */
  tokenMaxTtlMs: number;
  tokenIssuer: string;
  tokenAudience: string;
  tokenTtlMs: number;
  shutdownGraceMs: number;
  ingestMaxRecords: number;
  ingestMaxBytes: number;
  /** How long after a reported hour ends before it is sealed (no record can still be stamped in it). */
  sealDelayMs: number;
  /** How charge line amounts are rounded to the currency's minor units (docs/rating.md). */
  rounding: RoundingMode;
  /** How long after a billing period ends before it may be closed into an invoice (late usage's grace). */
  billingCloseGraceMs: number;
  /** How old a draft invoice gets before the billing job finalizes it; undefined: operators finalize. */
  billingFinalizeDelayMs: number | undefined;
  /** How often the billing job looks for periods to close and drafts to finalize. */
  billingIntervalMs: number;
  /** The invoice issuer of billing accounts that do not name their own. */
  billingIssuer: string;
  /** How often the usage bridge looks for closed windows to forward. */
  bridgeIntervalMs: number;
  /** Most records in one batch the bridge sends (a hub takes at most its TALLY_INGEST_MAX_RECORDS). */
  bridgeBatchRecords: number;
  /** How long the bridge waits for the upstream to answer one batch. */
  bridgeTimeoutMs: number;
  /** The longest wait between retries after consecutive failures. */
  bridgeRetryMaxMs: number;
  /** Allow plain-http upstreams beyond localhost (the credential would cross the network in clear). */
  bridgeAllowHttp: boolean;
  /** PEM files: `serve` speaks HTTPS when both are set. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** Proxies whose X-Forwarded-Proto/-Host (and -For) headers are believed; undefined: none. */
  trustedProxies: string[] | undefined;
  /** Usage-API queries answered at once, and queued beyond that before answering 503. */
  usageApiConcurrency: number;
  usageApiQueue: number;
  /** CLI: the server to talk to instead of the local database, and the token to use there. */
  server: string | undefined;
  token: string | undefined;
  /** CLI: the source API key `tally usage ingest` reports with. */
  sourceKey: string | undefined;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== "") raw[key] = v.trim();
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${String(i.path[0])}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  const problems: string[] = [];
  if (c.TALLY_AUTH_MODE === "oidc") {
    if (c.TALLY_OIDC_ISSUER === undefined)
      problems.push("  TALLY_OIDC_ISSUER: required when TALLY_AUTH_MODE=oidc");
    if (c.TALLY_OIDC_AUDIENCE === undefined)
      problems.push("  TALLY_OIDC_AUDIENCE: required when TALLY_AUTH_MODE=oidc");
  }
  if (c.TALLY_TOKEN_TTL > c.TALLY_TOKEN_MAX_TTL)
    problems.push("  TALLY_TOKEN_TTL: must not be longer than TALLY_TOKEN_MAX_TTL");
  if (c.TALLY_BILLING_INTERVAL < 1000) problems.push("  TALLY_BILLING_INTERVAL: must be at least 1s");
  if (c.TALLY_BILLING_ISSUER.trim() === "") problems.push("  TALLY_BILLING_ISSUER: must not be empty");
  if (c.TALLY_BRIDGE_INTERVAL < 1000) problems.push("  TALLY_BRIDGE_INTERVAL: must be at least 1s");
  if (c.TALLY_BRIDGE_TIMEOUT < 1000) problems.push("  TALLY_BRIDGE_TIMEOUT: must be at least 1s");
  if (c.TALLY_BRIDGE_RETRY_MAX < 5000) problems.push("  TALLY_BRIDGE_RETRY_MAX: must be at least 5s");
  if ((c.TALLY_TLS_CERT === undefined) !== (c.TALLY_TLS_KEY === undefined))
    problems.push(
      `  ${c.TALLY_TLS_CERT === undefined ? "TALLY_TLS_CERT" : "TALLY_TLS_KEY"}: required together with ${c.TALLY_TLS_CERT === undefined ? "TALLY_TLS_KEY" : "TALLY_TLS_CERT"}`,
    );
  if (problems.length) throw new ConfigError(`Invalid configuration:\n${problems.join("\n")}`);
  const dataDir = resolve(c.TALLY_DATA_DIR);
  return {
    port: c.TALLY_PORT,
    host: c.TALLY_HOST,
    dataDir,
    databaseUrl: c.TALLY_DATABASE_URL ?? resolve(dataDir, "tally.db"),
    publicUrl: c.TALLY_PUBLIC_URL?.replace(/\/+$/, ""),
    logLevel: c.TALLY_LOG_LEVEL,
    authMode: c.TALLY_AUTH_MODE,
    oidc:
      c.TALLY_AUTH_MODE === "oidc"
        ? {
            issuer: c.TALLY_OIDC_ISSUER!,
            audiences: c
              .TALLY_OIDC_AUDIENCE!.split(",")
              .map((a) => a.trim())
              .filter((a) => a !== ""),
            jwksUrl: c.TALLY_OIDC_JWKS_URL,
            cooldownMs: c.TALLY_OIDC_JWKS_COOLDOWN,
          }
        : undefined,
    tokenClockSkewMs: c.TALLY_TOKEN_CLOCK_SKEW,
    tokenMaxTtlMs: c.TALLY_TOKEN_MAX_TTL,
    tokenIssuer: c.TALLY_TOKEN_ISSUER,
    tokenAudience: c.TALLY_TOKEN_AUDIENCE,
    tokenTtlMs: c.TALLY_TOKEN_TTL,
    shutdownGraceMs: c.TALLY_SHUTDOWN_GRACE,
    ingestMaxRecords: c.TALLY_INGEST_MAX_RECORDS,
    ingestMaxBytes: c.TALLY_INGEST_MAX_BYTES,
    sealDelayMs: c.TALLY_SEAL_DELAY,
    rounding: c.TALLY_ROUNDING,
    billingCloseGraceMs: c.TALLY_BILLING_CLOSE_GRACE,
    billingFinalizeDelayMs: c.TALLY_BILLING_FINALIZE_DELAY,
    billingIntervalMs: c.TALLY_BILLING_INTERVAL,
    billingIssuer: c.TALLY_BILLING_ISSUER,
    bridgeIntervalMs: c.TALLY_BRIDGE_INTERVAL,
    bridgeBatchRecords: c.TALLY_BRIDGE_BATCH_RECORDS,
    bridgeTimeoutMs: c.TALLY_BRIDGE_TIMEOUT,
    bridgeRetryMaxMs: c.TALLY_BRIDGE_RETRY_MAX,
    bridgeAllowHttp: c.TALLY_BRIDGE_ALLOW_HTTP,
    tls:
      c.TALLY_TLS_CERT !== undefined && c.TALLY_TLS_KEY !== undefined
        ? { certFile: resolve(c.TALLY_TLS_CERT), keyFile: resolve(c.TALLY_TLS_KEY) }
        : undefined,
    trustedProxies: c.TALLY_TRUSTED_PROXIES,
    usageApiConcurrency: c.TALLY_USAGE_API_CONCURRENCY,
    usageApiQueue: c.TALLY_USAGE_API_QUEUE,
    server: c.TALLY_SERVER,
    token: c.TALLY_TOKEN,
    sourceKey: c.TALLY_SOURCE_KEY,
  };
}

/** The documented variables with their defaults, for the README and `tally config`. */
export const CONFIG_VARIABLES = Object.keys(schema.shape);
