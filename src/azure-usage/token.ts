import { createHmac, timingSafeEqual } from "node:crypto";
import type { AzureGranularity } from "../domain/azure-query.js";
import type { RowKey } from "../usage/query.js";

/** Which of the two usage APIs a query (and so a continuation token) belongs to. */
export type AzureApi = "tenant" | "operator";

/** Everything that decides a usage-API answer, and where the previous page stopped. */
export interface TokenState {
  api: AzureApi;
  /** The subscription in the request path (canonical GUID). */
  pathSubscriptionId: string;
  /** Operator API: the one direct tenant asked for. */
  subscriberId: string | undefined;
  granularity: AzureGranularity;
  /** Reported window [from, to), epoch ms. */
  from: number;
  to: number;
  /** Key of the last aggregate emitted. */
  after: RowKey;
}

const VERSION = 1;
const MAC_BYTES = 16;
const LABEL = Buffer.from("tally usage continuation v1\0");
const F_OPERATOR = 1;
const F_HOURLY = 2;
const F_SUBSCRIBER = 4;
const U48 = 2 ** 48;

const guidBytes = (g: string) => Buffer.from(g.replaceAll("-", ""), "hex");
function guidOf(b: Buffer): string {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function mac(secret: Buffer, payload: Buffer): Buffer {
  return createHmac("sha256", secret).update(LABEL).update(payload).digest().subarray(0, MAC_BYTES);
}

/**
 * A continuation token: the query it continues and the last key emitted, in 70 (86 with a
 * subscriber) bytes, authenticated with HMAC-SHA256 under the server's secret, base64url (no
 * characters that need escaping, so it survives clients that encode it once, twice or not at
 * all). It is stateless: any node sharing the database's secret continues any token, and since
 * closed windows never change it never expires.
 */
export function encodeToken(secret: Buffer, s: TokenState): string {
  const sub = s.subscriberId !== undefined;
  const p = Buffer.alloc(2 + 16 + (sub ? 16 : 0) + 6 * 6);
  let o = 0;
  p[o++] = VERSION;
  p[o++] =
    (s.api === "operator" ? F_OPERATOR : 0) |
    (s.granularity === "hourly" ? F_HOURLY : 0) |
    (sub ? F_SUBSCRIBER : 0);
  o += guidBytes(s.pathSubscriptionId).copy(p, o);
  if (sub) o += guidBytes(s.subscriberId!).copy(p, o);
  for (const n of [s.from, s.to, ...s.after]) {
    if (!Number.isSafeInteger(n) || n < 0 || n >= U48) throw new Error(`token field out of range: ${n}`);
    o = p.writeUIntBE(n, o, 6);
  }
  return Buffer.concat([p, mac(secret, p)]).toString("base64url");
}

/** The state a token carries, or undefined when it is malformed or was not signed with `secret`. */
export function decodeToken(secret: Buffer, token: string): TokenState | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) return undefined;
  const b = Buffer.from(token, "base64url");
  if (b.length <= MAC_BYTES) return undefined;
  const p = b.subarray(0, b.length - MAC_BYTES);
  const tag = b.subarray(b.length - MAC_BYTES);
  if (!timingSafeEqual(tag, mac(secret, p))) return undefined;
  const flags = p[1]!;
  const sub = (flags & F_SUBSCRIBER) !== 0;
  if (p[0] !== VERSION || p.length !== 2 + 16 + (sub ? 16 : 0) + 36 || flags & ~7) return undefined;
  const pathSubscriptionId = guidOf(p.subarray(2, 18));
  const subscriberId = sub ? guidOf(p.subarray(18, 34)) : undefined;
  let o = sub ? 34 : 18;
  const n: number[] = [];
  for (let i = 0; i < 6; i++, o += 6) n.push(p.readUIntBE(o, 6));
  const [from, to, s, bucket, m, inst] = n as [number, number, number, number, number, number];
  return {
    api: flags & F_OPERATOR ? "operator" : "tenant",
    pathSubscriptionId,
    subscriberId,
    granularity: flags & F_HOURLY ? "hourly" : "daily",
    from,
    to,
    after: [s, bucket, m, inst],
  };
}
