import { sameJson } from "../domain/json.js";
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

export function toRow(
  index: number,
  record: UsageRecord,
  subscriptionSeq: number,
  meterSeq: number,
  reportedAt?: number,
): RecordRow {
  return {
    index,
    record,
    subscriptionSeq,
    meterSeq,
    units: record.units,
    frac: record.frac,
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
    sameJson(s.tags, r.tags) &&
    sameJson(s.additional_info, r.additionalInfo) &&
    (row.reportedAt === undefined || Number(s.reported_at) === row.reportedAt)
  );
}
