import type { FieldIssue } from "./errors.js";
import { canonicalGuid, meterKey } from "./ids.js";
import { canonicalJson, DecimalText } from "./json.js";
import { parseQuantity, type Quantity } from "./quantity.js";
import { floorHour, HOUR, parseInstant } from "./time.js";

/** A usage record as a resource provider sends it, after validation and normalisation. */
export interface UsageRecord {
  id: string;
  /** Canonical (lower-case) GUID. */
  subscriptionId: string;
  /** Normalised meter key (32 upper-case hex digits). */
  meterKey: string;
  quantity: Quantity;
  usageStart: number;
  usageEnd: number;
  resourceUri: string;
  location: string | null;
  /** Canonical JSON text, or null. */
  tags: string | null;
  /** Canonical JSON text, or null. */
  additionalInfo: string | null;
}

/** A historical record from an import: it carries its own reported time and, optionally, its source. */
export interface ImportedRecord extends UsageRecord {
  reportedAt: number;
  sourceId: string | undefined;
}

export const LIMITS = {
  idLength: 128,
  resourceUriLength: 2048,
  locationLength: 128,
  tagCount: 50,
  tagKeyLength: 512,
  tagValueLength: 256,
  additionalInfoBytes: 16 * 1024,
  additionalInfoDepth: 8,
  /** How far ahead of tally's clock a usage window may start (resource providers' clocks drift). */
  futureSkewMs: 5 * 60_000,
} as const;

const LIVE_FIELDS = new Set([
  "id",
  "subscriptionId",
  "meterId",
  "quantity",
  "usageStartTime",
  "usageEndTime",
  "resourceUri",
  "location",
  "tags",
  "additionalInfo",
]);
const IMPORT_FIELDS = new Set([...LIVE_FIELDS, "reportedTime", "sourceId"]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof DecimalText);

function text(
  r: Record<string, unknown>,
  field: string,
  max: number,
  issues: FieldIssue[],
  index: number,
  optional: boolean,
): string | null {
  const v = r[field];
  if (v === undefined || v === null) {
    if (!optional) issues.push({ index, field, reason: "is required" });
    return null;
  }
  if (typeof v !== "string") {
    issues.push({ index, field, reason: "must be a string" });
    return null;
  }
  if (v.length === 0 && !optional) {
    issues.push({ index, field, reason: "must not be empty" });
    return null;
  }
  if (v.length > max) {
    issues.push({ index, field, reason: `must be at most ${max} characters` });
    return null;
  }
  if (CONTROL.test(v)) {
    issues.push({ index, field, reason: "must not contain control characters" });
    return null;
  }
  return v;
}

function instant(
  r: Record<string, unknown>,
  field: string,
  issues: FieldIssue[],
  index: number,
): number | null {
  const v = r[field];
  if (v === undefined || v === null) {
    issues.push({ index, field, reason: "is required" });
    return null;
  }
  if (typeof v !== "string") {
    issues.push({ index, field, reason: "must be an ISO 8601 date-time string" });
    return null;
  }
  const t = parseInstant(v);
  if (typeof t === "string") {
    issues.push({ index, field, reason: t });
    return null;
  }
  return t;
}

function tagsOf(v: unknown, issues: FieldIssue[], index: number): string | null {
  if (v === undefined || v === null) return null;
  if (!isPlainObject(v)) {
    issues.push({ index, field: "tags", reason: "must be an object of string values" });
    return null;
  }
  const keys = Object.keys(v);
  if (keys.length > LIMITS.tagCount) {
    issues.push({ index, field: "tags", reason: `must have at most ${LIMITS.tagCount} tags` });
    return null;
  }
  for (const k of keys) {
    const val = v[k];
    if (k.length === 0 || k.length > LIMITS.tagKeyLength || CONTROL.test(k)) {
      issues.push({
        index,
        field: "tags",
        reason: `tag name '${k.slice(0, 40)}' must be 1-${LIMITS.tagKeyLength} printable characters`,
      });
      return null;
    }
    if (typeof val !== "string" || val.length > LIMITS.tagValueLength || CONTROL.test(val)) {
      issues.push({
        index,
        field: `tags.${k}`,
        reason: `must be a string of at most ${LIMITS.tagValueLength} printable characters`,
      });
      return null;
    }
  }
  return keys.length === 0 ? null : canonicalJson(v).text;
}

function additionalInfoOf(v: unknown, issues: FieldIssue[], index: number): string | null {
  if (v === undefined || v === null) return null;
  if (!isPlainObject(v)) {
    issues.push({ index, field: "additionalInfo", reason: "must be an object" });
    return null;
  }
  const c = canonicalJson(v);
  if (c.depth > LIMITS.additionalInfoDepth) {
    issues.push({
      index,
      field: "additionalInfo",
      reason: `must nest at most ${LIMITS.additionalInfoDepth} levels deep`,
    });
    return null;
  }
  if (Buffer.byteLength(c.text) > LIMITS.additionalInfoBytes) {
    issues.push({
      index,
      field: "additionalInfo",
      reason: `must be at most ${LIMITS.additionalInfoBytes} bytes of JSON`,
    });
    return null;
  }
  return Object.keys(v).length === 0 ? null : c.text;
}

export interface ValidateOptions {
  /** tally's clock: usage may not start after it (plus a small skew). */
  now: number;
  /** History import: `reportedTime` is required and `sourceId` allowed. */
  imported?: boolean;
}

/**
 * Validates one record; returns it normalised, or every problem found with it (each naming the
 * record's index, the field and the reason).
 */
export function validateRecord(
  v: unknown,
  index: number,
  opts: ValidateOptions,
): UsageRecord | ImportedRecord | FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!isPlainObject(v)) return [{ index, field: "(record)", reason: "must be a JSON object" }];
  const allowed = opts.imported ? IMPORT_FIELDS : LIVE_FIELDS;
  for (const k of Object.keys(v)) {
    if (!allowed.has(k)) issues.push({ index, field: k, reason: "is not a usage record field" });
  }

  const id = text(v, "id", LIMITS.idLength, issues, index, false);
  let subscriptionId: string | null = null;
  if (typeof v.subscriptionId === "string") {
    subscriptionId = canonicalGuid(v.subscriptionId) ?? null;
    if (subscriptionId === null) issues.push({ index, field: "subscriptionId", reason: "must be a GUID" });
  } else {
    issues.push({
      index,
      field: "subscriptionId",
      reason: v.subscriptionId === undefined ? "is required" : "must be a GUID string",
    });
  }
  let key: string | null = null;
  if (typeof v.meterId === "string") {
    key = meterKey(v.meterId) ?? null;
    if (key === null) issues.push({ index, field: "meterId", reason: "must be a meter GUID" });
  } else {
    issues.push({
      index,
      field: "meterId",
      reason: v.meterId === undefined ? "is required" : "must be a meter GUID string",
    });
  }
  let quantity: Quantity | null = null;
  if (v.quantity === undefined || v.quantity === null) {
    issues.push({ index, field: "quantity", reason: "is required" });
  } else {
    const q = parseQuantity(v.quantity instanceof DecimalText ? v.quantity.text : v.quantity);
    if (typeof q === "string") issues.push({ index, field: "quantity", reason: q });
    else quantity = q;
  }

  const start = instant(v, "usageStartTime", issues, index);
  const end = instant(v, "usageEndTime", issues, index);
  let reportedAt: number | null = null;
  if (opts.imported) reportedAt = instant(v, "reportedTime", issues, index);
  if (start !== null && end !== null) {
    if (end <= start) issues.push({ index, field: "usageEndTime", reason: "must be after usageStartTime" });
    else if (end > floorHour(start) + HOUR) {
      issues.push({
        index,
        field: "usageEndTime",
        reason: "the usage window may not cross a UTC hour boundary",
      });
    }
    const clock = reportedAt ?? opts.now;
    if (start > clock + LIMITS.futureSkewMs) {
      issues.push({
        index,
        field: "usageStartTime",
        reason: opts.imported ? "must not be after reportedTime" : "is in the future",
      });
    }
  }
  if (opts.imported && reportedAt !== null && reportedAt > opts.now) {
    issues.push({ index, field: "reportedTime", reason: "is in the future" });
  }

  const resourceUri = text(v, "resourceUri", LIMITS.resourceUriLength, issues, index, false);
  if (resourceUri !== null) {
    const m = /^\/subscriptions\/([^/]+)\/./i.exec(resourceUri);
    if (resourceUri.includes("\\")) {
      issues.push({ index, field: "resourceUri", reason: "must use forward slashes" });
    } else if (!m || (subscriptionId !== null && canonicalGuid(m[1]!) !== subscriptionId)) {
      issues.push({
        index,
        field: "resourceUri",
        reason: "must start with /subscriptions/{subscriptionId}/",
      });
    }
  }
  const location = text(v, "location", LIMITS.locationLength, issues, index, true);
  const tags = tagsOf(v.tags, issues, index);
  const additionalInfo = additionalInfoOf(v.additionalInfo, issues, index);

  let sourceId: string | undefined;
  if (opts.imported && v.sourceId !== undefined) {
    if (typeof v.sourceId !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v.sourceId)) {
      issues.push({ index, field: "sourceId", reason: "must be a source id or name" });
    } else sourceId = v.sourceId;
  }

  if (issues.length) return issues;
  const record: UsageRecord = {
    id: id!,
    subscriptionId: subscriptionId!,
    meterKey: key!,
    quantity: quantity!,
    usageStart: start!,
    usageEnd: end!,
    resourceUri: resourceUri!,
    location: location === "" ? null : location,
    tags,
    additionalInfo,
  };
  return opts.imported ? { ...record, reportedAt: reportedAt!, sourceId } : record;
}

/** Two records are the same content when every field tally stores is equal. */
export function sameContent(a: UsageRecord, b: UsageRecord): boolean {
  return (
    a.subscriptionId === b.subscriptionId &&
    a.meterKey === b.meterKey &&
    a.quantity === b.quantity &&
    a.usageStart === b.usageStart &&
    a.usageEnd === b.usageEnd &&
    a.resourceUri === b.resourceUri &&
    a.location === b.location &&
    a.tags === b.tags &&
    a.additionalInfo === b.additionalInfo
  );
}
