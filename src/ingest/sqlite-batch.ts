import type { Database, Statement } from "better-sqlite3";
import type { UsageRecord } from "../domain/usage-record.js";
import { type RecordRow, type StoredContent, sameStored } from "./rows.js";

const COLUMNS =
  "source_seq, record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, reported_at, resource_uri, location, tags, additional_info, import_id";
const CONTENT =
  "record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, resource_uri, location, tags, additional_info, reported_at, import_id";
const CHUNK = 64;
const PARAMS_PER_ROW = 14;

/**
 * The synchronous SQLite half of storing a batch, on a raw better-sqlite3 handle, inside a
 * transaction the caller holds: the in-thread writer (imports) and the writer thread (live ingest)
 * both use it. Multi-row inserts skip existing (source, id) pairs; only when a chunk skipped rows
 * are the stored rows read back and compared, so new records cost one insert and nothing else.
 */
export class SqliteBatch {
  private readonly inserts = new Map<number, Statement>();
  private readonly selects = new Map<number, Statement>();
  private readonly sealed: Statement;
  private readonly firstLive: Statement;
  private firstLiveKnown = false;

  constructor(private readonly db: Database) {
    this.sealed = db.prepare("select value from usage_clock where name = 'sealed_until'");
    this.firstLive = db.prepare(
      "update usage_clock set value = ? where name = 'first_live_at' and value is null",
    );
  }

  private insertStatement(n: number): Statement {
    let st = this.inserts.get(n);
    if (!st) {
      const values = Array.from({ length: n }, () => `(${Array(PARAMS_PER_ROW).fill("?").join(",")})`).join(
        ",",
      );
      st = this.db.prepare(
        `insert into usage_records (${COLUMNS}) values ${values} on conflict (source_seq, record_id) do nothing`,
      );
      this.inserts.set(n, st);
    }
    return st;
  }

  private selectStatement(n: number): Statement {
    let st = this.selects.get(n);
    if (!st) {
      st = this.db.prepare(
        `select ${CONTENT} from usage_records where source_seq = ? and record_id in (${Array(n).fill("?").join(",")})`,
      );
      this.selects.set(n, st);
    }
    return st;
  }

  /** The sealed watermark, read inside the write transaction: no record may be stamped before it. */
  sealedUntil(): number {
    return Number((this.sealed.get() as { value: number }).value);
  }

  private firstLiveWritten = false;

  /** Records when the first live record was stamped (once per database); call `committed` after commit. */
  markFirstLive(reportedAt: number): void {
    if (this.firstLiveKnown) return;
    this.firstLive.run(reportedAt);
    this.firstLiveWritten = true;
  }

  /** The transaction committed: what it wrote need not be written again. */
  committed(): void {
    if (this.firstLiveWritten) this.firstLiveKnown = true;
  }

  /** The transaction rolled back. */
  rolledBack(): void {
    this.firstLiveWritten = false;
  }

  /**
   * Inserts the rows; returns how many were new and the indexes of rows whose id exists with
   * other content (the caller rolls back when there are any). Rows just inserted compare equal to
   * themselves, so reading back every row of a chunk that skipped some finds exactly the conflicts.
   */
  insert(
    rows: RecordRow[],
    sourceSeq: number,
    reportedAt: number,
    importId: string | null,
  ): { inserted: number; conflicts: number[] } {
    let inserted = 0;
    const skipped: RecordRow[] = [];
    const params: unknown[] = [];
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      params.length = 0;
      for (const r of chunk) {
        const rec = r.record;
        params.push(
          r.sourceSeq ?? sourceSeq,
          rec.id,
          r.subscriptionSeq,
          r.meterSeq,
          r.units,
          r.frac,
          rec.usageStart,
          rec.usageEnd,
          r.reportedAt ?? reportedAt,
          rec.resourceUri,
          rec.location,
          rec.tags,
          rec.additionalInfo,
          importId,
        );
      }
      const changes = this.insertStatement(chunk.length).run(...params).changes;
      inserted += changes;
      if (changes < chunk.length) skipped.push(...chunk);
    }
    const conflicts: number[] = [];
    const bySource = new Map<number, RecordRow[]>();
    for (const r of skipped) {
      const s = r.sourceSeq ?? sourceSeq;
      const list = bySource.get(s) ?? [];
      list.push(r);
      bySource.set(s, list);
    }
    for (const [s, group] of bySource) {
      const stored = new Map<string, StoredContent>();
      for (let i = 0; i < group.length; i += 500) {
        const ids = group.slice(i, i + 500).map((r) => r.record.id);
        for (const row of this.selectStatement(ids.length).all(s, ...ids) as StoredContent[])
          stored.set(row.record_id, row);
      }
      for (const r of group) {
        const existing = stored.get(r.record.id);
        if (!existing || !sameStored(r, existing)) conflicts.push(r.index);
      }
    }
    return { inserted, conflicts: conflicts.sort((a, b) => a - b) };
  }
}

/** Rows travel to the writer thread as one flat array: 12 values per row. */
export const FLAT_WIDTH = 12;

export function flattenRows(rows: RecordRow[]): unknown[] {
  const out: unknown[] = new Array(rows.length * FLAT_WIDTH);
  let k = 0;
  for (const r of rows) {
    const rec = r.record;
    out[k++] = r.index;
    out[k++] = rec.id;
    out[k++] = r.subscriptionSeq;
    out[k++] = r.meterSeq;
    out[k++] = r.units;
    out[k++] = r.frac;
    out[k++] = rec.usageStart;
    out[k++] = rec.usageEnd;
    out[k++] = rec.resourceUri;
    out[k++] = rec.location;
    out[k++] = rec.tags;
    out[k++] = rec.additionalInfo;
  }
  return out;
}

export function unflattenRows(flat: unknown[]): RecordRow[] {
  const rows: RecordRow[] = [];
  for (let k = 0; k < flat.length; k += FLAT_WIDTH) {
    const units = flat[k + 4] as number;
    const frac = flat[k + 5] as number;
    const record: UsageRecord = {
      id: flat[k + 1] as string,
      subscriptionId: "",
      meterKey: "",
      units,
      frac,
      usageStart: flat[k + 6] as number,
      usageEnd: flat[k + 7] as number,
      resourceUri: flat[k + 8] as string,
      location: flat[k + 9] as string | null,
      tags: flat[k + 10] as string | null,
      additionalInfo: flat[k + 11] as string | null,
    };
    rows.push({
      index: flat[k] as number,
      record,
      subscriptionSeq: flat[k + 2] as number,
      meterSeq: flat[k + 3] as number,
      units,
      frac,
      reportedAt: undefined,
    });
  }
  return rows;
}
