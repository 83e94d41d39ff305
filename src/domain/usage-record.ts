import { BRIDGE_INFO } from "./bridge.js";
import type { FieldIssue } from "./errors.js";
import { canonicalGuid, isCanonicalGuid, meterKey } from "./ids.js";
import { DecimalText, jsonText, sameJson } from "./json.js";
import { joinQuantity, parseQuantityParts, type Quantity } from "./quantity.js";
import { floorHour, HOUR, parseInstant } from "./time.js";

/** A usage record as a resource provider sends it, after validation and normalisation. */
export interface UsageRecord {
  id: string;
  /** Canonical (lower-case) GUID. */
  subscriptionId: string;
  /** Normalised meter key (32 upper-case hex digits). */
  meterKey: string;
  /** The quantity's whole units and its fraction in 1e-10 units (the storage columns). */
  units: number;
  frac: number;
  usageStart: number;
  usageEnd: number;
  resourceUri: string;
  location: string | null;
  /** JSON text as sent (compared with `sameJson`, which ignores key order), or null. */
  tags: string | null;
  /** JSON text as sent (compared with `sameJson`, which ignores key order), or null. */
  additionalInfo: string | null;
}

/** A historical record from an import: it carries its own reported time and, optionally, its source. */
export interface ImportedRecord extends UsageRecord {
  reportedAt: number;
  sourceId: string | undefined;
}

export const quantityOf = (r: UsageRecord): Quantity => joinQuantity(r.units, r.frac);

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
const URI_SUBSCRIPTION = /^\/subscriptions\/([^/]+)\/./i;
const SOURCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Where a bridged record names the originating cloud's subscription (reference §7.6). */
const BRIDGED_SUBSCRIPTION = BRIDGE_INFO.subscriptionId;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof DecimalText);

export interface ValidateOptions {
  /** tally's clock: usage may not start after it (plus a small skew). */
  now: number;
  /** History import: `reportedTime` is required and `sourceId` allowed. */
  imported?: boolean;
  /**
   * From another cloud's usage bridge: the record is charged to an upstream subscription while its
   * resource URI names the cloud's own, which `additionalInfo["azureStack.SubscriptionId"]` states.
   */
  bridged?: boolean;
}

/**
 * Validates the records of one batch. Timestamps, subscription ids and meter ids repeat across a
 * batch's records, so their parses are remembered for the batch: the hot path of ingest.
 */
export class RecordValidator {
  private readonly instants = new Map<string, number | string>();
  private readonly guids = new Map<string, string | undefined>();
  private readonly meters = new Map<string, string | undefined>();
  private readonly allowed: Set<string>;
  /** Reused for every record: most records have no issue, so none allocates a list. */
  private readonly scratch: FieldIssue[] = [];

  constructor(private readonly opts: ValidateOptions) {
    this.allowed = opts.imported ? IMPORT_FIELDS : LIVE_FIELDS;
  }

  /** The originating cloud's subscription a bridged record names, canonical, if it names one. */
  private bridgedSubscription(info: unknown): string | undefined {
    if (!isPlainObject(info)) return undefined;
    const s = info[BRIDGED_SUBSCRIPTION];
    return typeof s === "string" ? this.guid(s) : undefined;
  }

  private guid(s: string): string | undefined {
    if (isCanonicalGuid(s)) return s;
    let g = this.guids.get(s);
    if (g === undefined && !this.guids.has(s)) {
      g = canonicalGuid(s);
      this.guids.set(s, g);
    }
    return g;
  }

  private instant(
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
    let t = this.instants.get(v);
    if (t === undefined) {
      t = parseInstant(v);
      this.instants.set(v, t);
    }
    if (typeof t === "string") {
      issues.push({ index, field, reason: t });
      return null;
    }
    return t;
  }

  /** Returns the record normalised, or every problem found with it (index, field, reason). */
  validate(v: unknown, index: number): UsageRecord | ImportedRecord | FieldIssue[] {
    const issues = this.scratch;
    issues.length = 0;
    if (!isPlainObject(v)) return [{ index, field: "(record)", reason: "must be a JSON object" }];
    for (const k in v) {
      if (!this.allowed.has(k)) issues.push({ index, field: k, reason: "is not a usage record field" });
    }

    const id = text(v.id, "id", LIMITS.idLength, issues, index, false);
    let subscriptionId: string | undefined;
    if (typeof v.subscriptionId === "string") {
      subscriptionId = this.guid(v.subscriptionId);
      if (subscriptionId === undefined)
        issues.push({ index, field: "subscriptionId", reason: "must be a GUID" });
    } else {
      issues.push({
        index,
        field: "subscriptionId",
        reason: v.subscriptionId === undefined ? "is required" : "must be a GUID string",
      });
    }
    let key: string | undefined;
    if (typeof v.meterId === "string") {
      key = this.meters.get(v.meterId);
      if (key === undefined && !this.meters.has(v.meterId)) {
        key = meterKey(v.meterId);
        this.meters.set(v.meterId, key);
      }
      if (key === undefined) issues.push({ index, field: "meterId", reason: "must be a meter GUID" });
    } else {
      issues.push({
        index,
        field: "meterId",
        reason: v.meterId === undefined ? "is required" : "must be a meter GUID string",
      });
    }
    let parts: [number, number] | undefined;
    if (v.quantity === undefined || v.quantity === null) {
      issues.push({ index, field: "quantity", reason: "is required" });
    } else {
      const q = parseQuantityParts(v.quantity instanceof DecimalText ? v.quantity.text : v.quantity);
      if (typeof q === "string") issues.push({ index, field: "quantity", reason: q });
      else parts = q;
    }

    const start = this.instant(v, "usageStartTime", issues, index);
    const end = this.instant(v, "usageEndTime", issues, index);
    let reportedAt: number | null = null;
    if (this.opts.imported) reportedAt = this.instant(v, "reportedTime", issues, index);
    if (start !== null && end !== null) {
      if (end <= start) issues.push({ index, field: "usageEndTime", reason: "must be after usageStartTime" });
      else if (end > floorHour(start) + HOUR) {
        issues.push({
          index,
          field: "usageEndTime",
          reason: "the usage window may not cross a UTC hour boundary",
        });
      }
      if (start > (reportedAt ?? this.opts.now) + LIMITS.futureSkewMs) {
        issues.push({
          index,
          field: "usageStartTime",
          reason: this.opts.imported ? "must not be after reportedTime" : "is in the future",
        });
      }
    }
    if (this.opts.imported && reportedAt !== null && reportedAt > this.opts.now) {
      issues.push({ index, field: "reportedTime", reason: "is in the future" });
    }

    const resourceUri = text(v.resourceUri, "resourceUri", LIMITS.resourceUriLength, issues, index, false);
    if (resourceUri !== null) {
      // Fast path: the URI repeats the subscription id exactly as the record gives it.
      const raw = v.subscriptionId as string;
      const exact =
        typeof raw === "string" &&
        resourceUri.startsWith("/subscriptions/") &&
        resourceUri.startsWith(raw, 15) &&
        resourceUri.charCodeAt(15 + raw.length) === 47 &&
        resourceUri.length > 16 + raw.length;
      if (resourceUri.includes("\\")) {
        issues.push({ index, field: "resourceUri", reason: "must use forward slashes" });
      } else if (!exact) {
        const m = URI_SUBSCRIPTION.exec(resourceUri);
        const uriSub = m ? this.guid(m[1]!) : undefined;
        if (!m || (subscriptionId !== undefined && uriSub !== subscriptionId)) {
          if (!this.opts.bridged) {
            issues.push({
              index,
              field: "resourceUri",
              reason: "must start with /subscriptions/{subscriptionId}/",
            });
          } else if (uriSub === undefined || uriSub !== this.bridgedSubscription(v.additionalInfo)) {
            issues.push({
              index,
              field: "resourceUri",
              reason: `must start with /subscriptions/{subscriptionId}/ or, from a bridge, /subscriptions/{additionalInfo["${BRIDGED_SUBSCRIPTION}"]}/`,
            });
          }
        }
      }
    }
    const location = text(v.location, "location", LIMITS.locationLength, issues, index, true);
    const tags = tagsOf(v.tags, issues, index);
    const additionalInfo = additionalInfoOf(v.additionalInfo, issues, index);

    let sourceId: string | undefined;
    if (this.opts.imported && v.sourceId !== undefined) {
      if (typeof v.sourceId !== "string" || !SOURCE_ID.test(v.sourceId)) {
        issues.push({ index, field: "sourceId", reason: "must be a source id or name" });
      } else sourceId = v.sourceId;
    }

    if (issues.length) return issues.slice();
    const record: UsageRecord = {
      id: id!,
      subscriptionId: subscriptionId!,
      meterKey: key!,
      units: parts![0],
      frac: parts![1],
      usageStart: start!,
      usageEnd: end!,
      resourceUri: resourceUri!,
      location: location === "" ? null : location,
      tags,
      additionalInfo,
    };
    return this.opts.imported ? { ...record, reportedAt: reportedAt!, sourceId } : record;
  }
}

/** Validates one record on its own (see RecordValidator for batches). */
export function validateRecord(
  v: unknown,
  index: number,
  opts: ValidateOptions,
): UsageRecord | ImportedRecord | FieldIssue[] {
  return new RecordValidator(opts).validate(v, index);
}

function text(
  v: unknown,
  field: string,
  max: number,
  issues: FieldIssue[],
  index: number,
  optional: boolean,
): string | null {
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
  return keys.length === 0 ? null : JSON.stringify(v);
}

function additionalInfoOf(v: unknown, issues: FieldIssue[], index: number): string | null {
  if (v === undefined || v === null) return null;
  if (!isPlainObject(v)) {
    issues.push({ index, field: "additionalInfo", reason: "must be an object" });
    return null;
  }
  const c = jsonText(v);
  if (c.depth > LIMITS.additionalInfoDepth) {
    issues.push({
      index,
      field: "additionalInfo",
      reason: `must nest at most ${LIMITS.additionalInfoDepth} levels deep`,
    });
    return null;
  }
  const tooBig =
    c.text.length * 3 > LIMITS.additionalInfoBytes && Buffer.byteLength(c.text) > LIMITS.additionalInfoBytes;
  if (tooBig) {
    issues.push({
      index,
      field: "additionalInfo",
      reason: `must be at most ${LIMITS.additionalInfoBytes} bytes of JSON`,
    });
    return null;
  }
  return c.text === "{}" ? null : c.text;
}

/** Two records are the same content when every field tally stores is equal. */
export function sameContent(a: UsageRecord, b: UsageRecord): boolean {
  return (
    a.subscriptionId === b.subscriptionId &&
    a.meterKey === b.meterKey &&
    a.units === b.units &&
    a.frac === b.frac &&
    a.usageStart === b.usageStart &&
    a.usageEnd === b.usageEnd &&
    a.resourceUri === b.resourceUri &&
    a.location === b.location &&
    sameJson(a.tags, b.tags) &&
    sameJson(a.additionalInfo, b.additionalInfo)
  );
}
