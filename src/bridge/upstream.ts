import { createHmac, timingSafeEqual } from "node:crypto";
import { categoryOfStatus, type DeliveryErrorCategory, type UpstreamType } from "../domain/bridge.js";
import { toIso } from "../domain/time.js";

/**
 * Where the bridge sends batches. Two adapters: `Tally`, another tally's ingest API with the
 * credential as a source API key (a hub), and `Https`, any HTTPS endpoint taking the batch as a
 * signed JSON document (docs/bridge.md describes the format).
 */
export interface UpstreamTarget {
  type: UpstreamType;
  url: string;
  credential: string;
  cloudId: string;
  registrationName: string;
  billingModel: string;
}

export interface OutgoingBatch {
  idempotencyKey: string;
  windowStart: number;
  windowEnd: number;
  part: number;
  parts: number;
  upstreamSubscriptionId: string;
  records: number;
  /** The records as a JSON array, exactly as built when the window was frozen. */
  recordsJson: string;
  attempt: number;
}

export interface Delivered {
  status: number;
  /** What a tally hub reports: records new to it, and records it had already (re-sends). */
  inserted?: number;
  duplicates?: number;
}

export class DeliveryFailure extends Error {
  constructor(
    readonly category: DeliveryErrorCategory,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "DeliveryFailure";
  }
}

export const SIGNATURE_HEADER = "x-tally-signature";
export const USER_AGENT = "tally-bridge/1";

/** `sha256=<hex HMAC-SHA256 of the body keyed with the credential>`. */
export function signBody(body: string, credential: string): string {
  return `sha256=${createHmac("sha256", credential).update(body, "utf8").digest("hex")}`;
}

/** For receivers written in TypeScript: checks a signature header in constant time. */
export function verifySignature(body: string, header: string | undefined, credential: string): boolean {
  if (header === undefined) return false;
  const want = Buffer.from(signBody(body, credential));
  const got = Buffer.from(header.trim());
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The ingest endpoint of a tally hub, from its base URL (a path prefix is kept). */
export function tallyIngestUrl(base: string): string {
  const u = new URL(base);
  if (!u.pathname.replace(/\/+$/, "").endsWith("/api/v1/usage-records"))
    u.pathname = `${u.pathname.replace(/\/+$/, "")}/api/v1/usage-records`;
  return u.toString();
}

const CERT_CODES =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ALTNAME|DEPTH_ZERO|ERR_SSL|HOSTNAME_MISMATCH/;

/** Classifies a failure to get an answer at all (connection, TLS, timeout). */
export function classifyTransportError(e: unknown): DeliveryFailure {
  if (e instanceof DeliveryFailure) return e;
  const err = e as {
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string; name?: string };
  };
  if (
    err.name === "TimeoutError" ||
    err.cause?.name === "TimeoutError" ||
    err.cause?.code === "UND_ERR_CONNECT_TIMEOUT"
  )
    return new DeliveryFailure("RequestTimedOut", "the upstream did not answer in time");
  const code = err.cause?.code ?? "";
  const detail = err.cause?.message ?? err.message ?? String(e);
  if (CERT_CODES.test(code) || /certificate/i.test(detail))
    return new DeliveryFailure(
      "CertificateValidationError",
      `the upstream's TLS certificate is not trusted: ${detail}`,
    );
  return new DeliveryFailure(
    "NetworkError",
    `cannot reach the upstream${code ? ` (${code})` : ""}: ${detail}`,
  );
}

function request(
  target: UpstreamTarget,
  b: OutgoingBatch,
  sentAt: number,
): { url: string; body: string; headers: Record<string, string> } {
  const common = {
    "content-type": "application/json",
    "idempotency-key": b.idempotencyKey,
    "x-request-id": `${b.idempotencyKey}:a${b.attempt}`.slice(0, 128),
    "user-agent": USER_AGENT,
  };
  if (target.type === "Tally") {
    return {
      url: tallyIngestUrl(target.url),
      body: `{"records":${b.recordsJson}}`,
      headers: { ...common, "x-api-key": target.credential },
    };
  }
  // The document is assembled around the frozen records text, so the records a receiver sees on
  // a re-send are byte for byte those of the first attempt.
  const head = JSON.stringify({
    type: "tally.usage.batch",
    version: 1,
    idempotencyKey: b.idempotencyKey,
    cloudId: target.cloudId,
    registration: target.registrationName,
    billingModel: target.billingModel,
    subscriptionId: b.upstreamSubscriptionId,
    reportedStartTime: toIso(b.windowStart),
    reportedEndTime: toIso(b.windowEnd),
    part: b.part,
    parts: b.parts,
    sentAt: toIso(sentAt),
  });
  const body = `${head.slice(0, -1)},"records":${b.recordsJson}}`;
  return {
    url: target.url,
    body,
    headers: { ...common, [SIGNATURE_HEADER]: signBody(body, target.credential) },
  };
}

interface UpstreamErrorBody {
  error?: {
    code?: string;
    message?: string;
    details?: { field?: string; reason?: string; index?: number }[];
  };
}

/** The upstream's own words: its error code and message, and the first few problems it listed. */
function messageOf(status: number, text: string): string {
  let detail = text.slice(0, 500);
  try {
    const e = (JSON.parse(text) as UpstreamErrorBody).error;
    if (e?.message) {
      detail = `${e.code ?? ""}: ${e.message}`.replace(/^: /, "");
      const listed = (e.details ?? [])
        .slice(0, 3)
        .map((d) => `${d.index !== undefined ? `[${d.index}] ` : ""}${d.field ?? ""}: ${d.reason ?? ""}`);
      if (listed.length) detail += ` (${listed.join("; ")}${(e.details?.length ?? 0) > 3 ? "; …" : ""})`;
    }
  } catch {
    // not JSON: keep the text
  }
  return `the upstream answered ${status}${detail ? `: ${detail}` : ""}`;
}

/** Sends one batch; resolves when the upstream acknowledged it, else throws DeliveryFailure. */
export async function deliver(
  target: UpstreamTarget,
  batch: OutgoingBatch,
  opts: { timeoutMs: number; now: number },
): Promise<Delivered> {
  const req = request(target, batch, opts.now);
  let res: Response;
  let text: string;
  try {
    res = await fetch(req.url, {
      method: "POST",
      headers: req.headers,
      body: req.body,
      redirect: "error",
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    text = await res.text();
  } catch (e) {
    throw classifyTransportError(e);
  }
  if (res.status < 200 || res.status > 299)
    throw new DeliveryFailure(categoryOfStatus(res.status), messageOf(res.status, text), res.status);
  if (target.type === "Https") return { status: res.status };
  // A 2xx that is not a tally ingest answer for this batch (a proxy's page, a wrong URL) must not
  // count as delivered: the records would be lost.
  let ack: { inserted?: unknown; duplicates?: unknown } | undefined;
  try {
    ack = JSON.parse(text) as typeof ack;
  } catch {
    ack = undefined;
  }
  const inserted = ack?.inserted;
  const duplicates = ack?.duplicates;
  if (
    typeof inserted !== "number" ||
    typeof duplicates !== "number" ||
    inserted + duplicates !== batch.records
  ) {
    throw new DeliveryFailure(
      "UpstreamRejected",
      `the upstream answered ${res.status} but not as a tally ingest API acknowledging ${batch.records} record(s); check upstreamUrl`,
      res.status,
    );
  }
  return { status: res.status, inserted, duplicates };
}
