import { createHash } from "node:crypto";
import type { FieldIssue } from "./errors.js";
import { HOUR } from "./time.js";

/**
 * The pure rules of registration and the usage bridge (docs/bridge.md): billing models, upstream
 * addresses, the identity of forwarded records and batches, retry timing, error categories.
 */
export const BILLING_MODELS = ["PayAsYouUse", "Capacity", "Development"] as const;
export type BillingModel = (typeof BILLING_MODELS)[number];

/** `Tally`: another tally's ingest API (a hub); `Https`: any HTTPS endpoint taking a signed body. */
export const UPSTREAM_TYPES = ["Tally", "Https"] as const;
export type UpstreamType = (typeof UPSTREAM_TYPES)[number];

/** The `additionalInfo` keys Azure shows on Azure Stack usage (reference §7.6), and tally's own. */
export const BRIDGE_INFO = {
  meterId: "azureStack.MeterId",
  subscriptionId: "azureStack.SubscriptionId",
  location: "azureStack.Location",
  eventDateTime: "azureStack.EventDateTime",
  cloudId: "azureStack.CloudId",
  billingModel: "azureStack.BillingModel",
  reportedHour: "tally.ReportedHour",
} as const;

/** Why a delivery failed: the reference's categories (§7.1), plus two for answers the upstream gave. */
export const DELIVERY_ERRORS = [
  "NetworkError",
  "RequestTimedOut",
  "LoginError",
  "CertificateValidationError",
  "Unauthorized",
  /** The upstream refused the batch's content (400, 404, 409, 413, 422): an operator must act. */
  "UpstreamRejected",
  /** The upstream answered 5xx or 429: it is there but cannot take the batch now. */
  "UpstreamUnavailable",
] as const;
export type DeliveryErrorCategory = (typeof DELIVERY_ERRORS)[number];

export interface RegistrationRules {
  billingModel: BillingModel;
  usageReportingEnabled: boolean;
  upstreamUrl: string | null;
  hasCredential: boolean;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Why an upstream address is not acceptable, or undefined. The credential travels with every
 * request, so plain HTTP is allowed only to the same machine unless the operator opts in.
 */
export function upstreamUrlProblem(url: string, allowHttp: boolean): string | undefined {
  if (!URL.canParse(url)) return "must be an absolute URL such as https://hub.example.com";
  const u = new URL(url);
  if (u.protocol !== "https:" && u.protocol !== "http:") return "must be an https:// URL";
  if (u.protocol === "http:" && !allowHttp && !LOOPBACK.test(u.hostname))
    return "must be https:// (plain http only to localhost, or with TALLY_BRIDGE_ALLOW_HTTP=true)";
  if (u.username !== "" || u.password !== "") return "must not carry credentials; use upstreamCredential";
  if (u.hash !== "") return "must not have a #fragment";
  return undefined;
}

/** The rules a registration satisfies after every change, as field issues. */
export function registrationProblems(r: RegistrationRules, allowHttp: boolean): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (r.billingModel === "PayAsYouUse" && !r.usageReportingEnabled) {
    issues.push({
      field: "usageReportingEnabled",
      reason: "cannot be turned off with the PayAsYouUse billing model",
    });
  }
  if (r.upstreamUrl !== null) {
    const p = upstreamUrlProblem(r.upstreamUrl, allowHttp);
    if (p) issues.push({ field: "upstreamUrl", reason: p });
  }
  if (r.usageReportingEnabled) {
    if (r.upstreamUrl === null)
      issues.push({ field: "upstreamUrl", reason: "is required while usage reporting is enabled" });
    if (!r.hasCredential)
      issues.push({ field: "upstreamCredential", reason: "is required while usage reporting is enabled" });
  }
  return issues;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** `MM/dd/yyyy HH:mm:ss` in UTC, the form Partner Center shows in `azureStack.EventDateTime`. */
export function eventDateTime(t: number): string {
  const d = new Date(t);
  return `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** `yyyyMMddHH` of a UTC hour, for readable ids. */
export function hourStamp(t: number): string {
  const d = new Date(t);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}`;
}

export interface ForwardedKey {
  cloudId: string;
  reportedHour: number;
  /** The local subscription. */
  subscriptionId: string;
  usageHour: number;
  meterKey: string;
  /** The content hash of the local resource instance. */
  instanceHash: string;
}

/**
 * The id of a forwarded record: a function of what it sums (cloud, reported hour, local
 * subscription, usage hour, meter, instance), so that a re-sent batch, or a window rebuilt from
 * the same closed aggregates, carries the same ids and the receiver counts each record once.
 */
export function forwardedRecordId(k: ForwardedKey): string {
  const digest = createHash("sha256")
    .update(
      [k.cloudId, k.reportedHour, k.subscriptionId, k.usageHour, k.meterKey, k.instanceHash].join("\u0001"),
    )
    .digest("base64url");
  return `tb-${hourStamp(k.reportedHour)}-${digest}`;
}

/** The idempotency key of one batch: cloud, reported window, part. */
export function batchKey(cloudId: string, windowStart: number, part: number): string {
  return `tally-bridge:${cloudId}:${hourStamp(windowStart)}:${part}`;
}

export const WINDOW = HOUR;

export const RETRY_BASE_MS = 5_000;

/**
 * How long to wait after the `failures`-th consecutive failure: 5 s doubling up to `maxMs`, with
 * ±20 % jitter (`random` in [0, 1)) so that many clouds do not retry a recovering hub in step.
 */
export function backoffMs(failures: number, maxMs: number, random: number): number {
  const exp = Math.min(RETRY_BASE_MS * 2 ** Math.max(0, failures - 1), maxMs);
  return Math.round(Math.min(maxMs, exp * (0.8 + 0.4 * random)));
}

/** The category of an HTTP answer that is not a success. */
export function categoryOfStatus(status: number): DeliveryErrorCategory {
  if (status === 401) return "LoginError";
  if (status === 403) return "Unauthorized";
  if (status === 408 || status === 504) return "RequestTimedOut";
  if (status === 429 || status >= 500) return "UpstreamUnavailable";
  return "UpstreamRejected";
}

/**
 * Whether usage that came over a bridge is to be charged: only a PayAsYouUse cloud's. Development
 * usage is forwarded at zero charge, and a Capacity cloud's usage, when it reports any, informs
 * but is not billed (reference §7.2). Records that did not come over a bridge are charged as usual.
 */
export function isChargeableUsage(additionalInfo: unknown): boolean {
  if (typeof additionalInfo !== "object" || additionalInfo === null) return true;
  const model = (additionalInfo as Record<string, unknown>)[BRIDGE_INFO.billingModel];
  return model === undefined || model === "PayAsYouUse";
}

/**
 * Splits items, already in order, into consecutive parts of at most `maxCount` items and about
 * `maxBytes` of encoded size each (one oversized item makes a part of its own).
 */
export function partition<T>(
  items: readonly T[],
  maxCount: number,
  maxBytes: number,
  size: (t: T) => number,
) {
  const parts: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const it of items) {
    const n = size(it);
    if (cur.length > 0 && (cur.length >= maxCount || bytes + n > maxBytes)) {
      parts.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += n;
  }
  if (cur.length) parts.push(cur);
  return parts;
}
