import { hash } from "node:crypto";
import { splitQuantity } from "../domain/quantity.js";
import type { UsageRecord } from "../domain/usage-record.js";

/** A validated record resolved to the internal keys it is stored under. */
export interface RecordRow {
  /** Position in the request (for error reports). */
  index: number;
  record: UsageRecord;
  subscriptionSeq: number;
  meterSeq: number;
  units: number;
  frac: number;
  instanceHash: string;
  /** Imports only: the record's own reported time. */
  reportedAt: number | undefined;
  /** Imports only: the source the record is attributed to, when not the batch's. */
  sourceSeq?: number;
}

/** The columns of a stored record that make up its content (what a re-send must match). */
export interface StoredContent {
  record_id: string;
  subscription_seq: number;
  meter_seq: number;
  q_units: number;
  q_frac: number;
  usage_start: number;
  usage_end: number;
  resource_uri: string;
  location: string | null;
  tags: string | null;
  additional_info: string | null;
  reported_at: number;
  import_id: string | null;
}

/**
 * A resource instance is identified within its subscription by everything Azure puts in
 * `instanceData`: resource URI, location, tags and additional info. Control characters are
 * refused in all of them, so U+0001 separates the parts unambiguously.
 */
export function instanceHash(r: UsageRecord): string {
  const key = `${r.resourceUri}\u0001${r.location ?? ""}\u0001${r.tags ?? ""}\u0001${r.additionalInfo ?? ""}`;
  return hash("sha256", key, "base64url").slice(0, 22);
}

export function toRow(
  index: number,
  record: UsageRecord,
  subscriptionSeq: number,
  meterSeq: number,
  reportedAt?: number,
): RecordRow {
  const [units, frac] = splitQuantity(record.quantity);
  return {
    index,
    record,
    subscriptionSeq,
    meterSeq,
    units,
    frac,
    instanceHash: instanceHash(record),
    reportedAt,
  };
}

export function sameStored(row: RecordRow, s: StoredContent): boolean {
  const r = row.record;
  return (
    Number(s.subscription_seq) === row.subscriptionSeq &&
    Number(s.meter_seq) === row.meterSeq &&
    Number(s.q_units) === row.units &&
    Number(s.q_frac) === row.frac &&
    Number(s.usage_start) === r.usageStart &&
    Number(s.usage_end) === r.usageEnd &&
    s.resource_uri === r.resourceUri &&
    s.location === r.location &&
    s.tags === r.tags &&
    s.additional_info === r.additionalInfo &&
    (row.reportedAt === undefined || Number(s.reported_at) === row.reportedAt)
  );
}
