import { DomainError, type FieldIssue, RetryableError } from "../domain/errors.js";
import {
  type ImportedRecord,
  RecordValidator,
  sameContent,
  type UsageRecord,
} from "../domain/usage-record.js";
import type { Services } from "../services.js";
import type { ParsedBatch } from "./parse.js";
import { type RecordRow, toRow } from "./rows.js";
import { ConflictingRecords, type WriteOptions, writeBatch } from "./writer.js";

export interface IngestResult {
  inserted: number;
  duplicates: number;
}

type Deps = Pick<Services, "store" | "clock" | "catalog" | "metrics" | "config" | "ingestWriter">;

function invalid(issues: FieldIssue[], total: number): DomainError {
  const records = new Set(issues.map((i) => i.index)).size;
  return new DomainError(
    "ValidationFailed",
    `${records} of ${total} record(s) are invalid; nothing was stored.`,
    issues.slice(0, 10_000),
  );
}

/**
 * Validates a whole batch and resolves its subscriptions and meters. Returns the rows to store,
 * plus the indexes of in-batch repeats of an earlier record (same id and content), or throws with
 * every invalid record named by index, field and reason.
 */
export async function prepareBatch(
  deps: Deps,
  batch: ParsedBatch,
  opts: {
    now: number;
    imported: boolean;
    /** From another cloud's bridge: see ValidateOptions.bridged. */
    bridged?: boolean;
    /** Imports: the source a record names (`sourceId`), resolved to its key, or undefined if unknown. */
    sourceOf?: (r: ImportedRecord) => number | undefined;
  },
): Promise<{ rows: RecordRow[]; repeats: number }> {
  const { records, lines } = batch;
  if (records.length > deps.config.ingestMaxRecords) {
    throw new DomainError(
      "PayloadTooLarge",
      `a batch holds at most ${deps.config.ingestMaxRecords} records; this one has ${records.length}.`,
    );
  }
  if (records.length === 0) throw new DomainError("InvalidRequest", "the batch holds no records.");
  const issues: FieldIssue[] = [];
  const valid: (UsageRecord | ImportedRecord | undefined)[] = new Array(records.length);
  const validator = new RecordValidator({
    now: opts.now,
    imported: opts.imported,
    bridged: opts.bridged ?? false,
  });
  for (let i = 0; i < records.length; i++) {
    const r = validator.validate(records[i], i);
    if (Array.isArray(r)) issues.push(...r);
    else valid[i] = r;
  }
  const ok = valid.filter((v): v is UsageRecord => v !== undefined);
  const [subs, meters] = await Promise.all([
    deps.catalog.subscriptions(ok.map((r) => r.subscriptionId)),
    deps.catalog.metersByKey(ok.map((r) => r.meterKey)),
  ]);
  const rows: RecordRow[] = [];
  const firstById = new Map<string, RecordRow>();
  const conflicts: number[] = [];
  let repeats = 0;
  for (let i = 0; i < valid.length; i++) {
    const r = valid[i];
    if (r === undefined) continue;
    const sub = subs.get(r.subscriptionId);
    const meter = meters.get(r.meterKey);
    if (!sub)
      issues.push({
        index: i,
        field: "subscriptionId",
        reason: `subscription '${r.subscriptionId}' does not exist`,
      });
    else if (sub.state === "Deleted" && sub.deletedAt !== null && r.usageStart >= sub.deletedAt) {
      issues.push({
        index: i,
        field: "subscriptionId",
        reason: `subscription '${r.subscriptionId}' was deleted before this usage`,
      });
    }
    if (!meter) issues.push({ index: i, field: "meterId", reason: "is not a meter of the catalogue" });
    let sourceSeq: number | undefined;
    if ("reportedAt" in r && opts.sourceOf) {
      sourceSeq = opts.sourceOf(r);
      if (sourceSeq === undefined)
        issues.push({ index: i, field: "sourceId", reason: `source '${r.sourceId}' does not exist` });
    }
    if (!sub || !meter || issues.length) continue;
    const row = toRow(i, r, sub.seq, meter.seq, "reportedAt" in r ? r.reportedAt : undefined);
    if (sourceSeq !== undefined) row.sourceSeq = sourceSeq;
    const identity = sourceSeq === undefined ? r.id : `${sourceSeq}\u0001${r.id}`;
    const first = firstById.get(identity);
    if (first === undefined) {
      firstById.set(identity, row);
      rows.push(row);
    } else if (sameContent(first.record, r) && first.reportedAt === row.reportedAt) {
      repeats++;
    } else {
      conflicts.push(first.index, i);
    }
  }
  if (issues.length) {
    if (lines) for (const issue of issues) issue.line = lines[issue.index!];
    throw invalid(issues, records.length);
  }
  if (conflicts.length) {
    throw new ConflictingRecords([...new Set(conflicts)].sort((a, b) => a - b));
  }
  return { rows, repeats };
}

/** Writes prepared rows, retrying a few times when the database asks for it (lock contention, deadlock). */
export async function writeWithRetry(deps: Deps, rows: RecordRow[], opts: WriteOptions) {
  const live =
    opts.importId === undefined && opts.beforeInsert === undefined && opts.afterInsert === undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await (live
        ? deps.ingestWriter.write(opts.sourceSeq, opts.now, rows)
        : writeBatch(deps.store, rows, opts));
    } catch (e) {
      if (!(e instanceof RetryableError) || attempt >= 4) throw e;
      await new Promise((r) => setTimeout(r, 20 * 2 ** attempt * Math.random()));
    }
  }
}

/** Live ingest from a resource provider: validate everything, then store the batch whole or not at all. */
export async function ingestBatch(
  deps: Deps,
  sourceSeq: number,
  batch: ParsedBatch,
  opts: { bridged?: boolean } = {},
): Promise<IngestResult> {
  const now = deps.clock.now();
  try {
    const { rows, repeats } = await prepareBatch(deps, batch, {
      now,
      imported: false,
      bridged: opts.bridged ?? false,
    });
    const r = await writeWithRetry(deps, rows, { sourceSeq, now });
    const result = { inserted: r.inserted, duplicates: r.duplicates + repeats };
    deps.metrics.ingestBatches.inc({ outcome: "accepted" });
    deps.metrics.usageRecords.inc({ outcome: "inserted" }, result.inserted);
    deps.metrics.usageRecords.inc({ outcome: "duplicate" }, result.duplicates);
    return result;
  } catch (e) {
    const outcome =
      e instanceof ConflictingRecords
        ? "conflict"
        : e instanceof DomainError && e.code !== "ServiceUnavailable"
          ? "invalid"
          : "error";
    deps.metrics.ingestBatches.inc({ outcome });
    deps.metrics.usageRecords.inc({ outcome: "rejected" }, batch.records.length);
    throw e;
  }
}
