import { sql } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import { IMPORT_SOURCE_NAME } from "../bootstrap.js";
import { DomainError, type FieldIssue } from "../domain/errors.js";
import { newGuid } from "../domain/ids.js";
import { floorHour, toIso } from "../domain/time.js";
import type { Services } from "../services.js";
import { aggregateRecords } from "../usage/aggregate.js";
import { readUsageClock } from "../usage/clock.js";
import { closedUntil } from "../usage/service.js";
import type { ParsedBatch } from "./parse.js";
import { prepareBatch, writeWithRetry } from "./service.js";
import type { TxContext } from "./writer.js";

export interface ImportResult {
  importId: string;
  inserted: number;
  duplicates: number;
}

type Deps = Pick<Services, "store" | "clock" | "catalog" | "metrics" | "config" | "logger" | "ingestWriter">;

interface Horizon {
  at: number;
  why: string;
}

/**
 * The reported time before which history may still be imported: imports may only fill reported
 * hours that (1) are closed, so live aggregation will never look at them, (2) lie before the first
 * live record, and (3) lie before anything any answer has covered. Together these guarantee that
 * an import never changes a window the store may already have answered.
 */
export function importHorizon(c: {
  closedUntil: number;
  firstLiveAt: number | null;
  answeredFrom: number | null;
}): Horizon {
  let h: Horizon = { at: c.closedUntil, why: "reported hours that are not closed yet" };
  if (c.firstLiveAt !== null && floorHour(c.firstLiveAt) < h.at) {
    h = { at: floorHour(c.firstLiveAt), why: "the first hour with live usage" };
  }
  if (c.answeredFrom !== null && c.answeredFrom < h.at) {
    h = { at: c.answeredFrom, why: "reported time that usage queries have already answered" };
  }
  return h;
}

function checkHorizon(rows: { index: number; reportedAt: number | undefined }[], h: Horizon): FieldIssue[] {
  return rows
    .filter((r) => r.reportedAt !== undefined && r.reportedAt >= h.at)
    .map((r) => ({
      index: r.index,
      field: "reportedTime",
      reason: `must be before ${toIso(h.at)}: imports may not reach ${h.why}`,
    }));
}

async function lockedClock(tx: TxContext) {
  const lock = tx.store.dialect === "postgres" ? sql` for update` : sql``;
  const rows = await tx.run<{ name: string; value: number | null }>(
    sql`select name, value from usage_clock where name in ('rolled_up_until', 'first_live_at', 'answered_from')${lock}`,
  );
  const v = new Map(rows.map((r) => [r.name, r.value === null ? null : Number(r.value)]));
  return {
    closedUntil: v.get("rolled_up_until") ?? 0,
    firstLiveAt: v.get("first_live_at") ?? null,
    answeredFrom: v.get("answered_from") ?? null,
  };
}

/**
 * Imports historical records that carry their own reported time, with the validation and
 * exactly-once rules of live ingest. The batch is aggregated in the same transaction, so it is
 * visible to queries the moment it commits, and refused whole if any record breaks the horizon.
 */
export async function importHistory(deps: Deps, actor: Actor, batch: ParsedBatch): Promise<ImportResult> {
  const now = deps.clock.now();
  await closedUntil(deps, Number.MAX_SAFE_INTEGER);
  const sources = await deps.store.db
    .selectFrom("sources")
    .select(["seq", "id", "name"])
    .where("disabled_at", "is", null)
    .execute();
  const seqOf = new Map<string, number>();
  for (const s of sources) {
    seqOf.set(s.id, Number(s.seq));
    seqOf.set(s.name, Number(s.seq));
  }
  const defaultSource = seqOf.get(IMPORT_SOURCE_NAME);
  if (defaultSource === undefined)
    throw new Error(`the built-in '${IMPORT_SOURCE_NAME}' source is missing; run tally migrate`);
  const { rows, repeats } = await prepareBatch(deps, batch, {
    now,
    imported: true,
    sourceOf: (r) => (r.sourceId === undefined ? defaultSource : seqOf.get(r.sourceId)),
  });
  const early = checkHorizon(rows, importHorizon(await readUsageClock(deps.store.db)));
  if (early.length) throw outside(early, batch);

  const importId = newGuid();
  const reported = rows.map((r) => r.reportedAt!);
  const result = await writeWithRetry(deps, rows, {
    sourceSeq: defaultSource,
    now,
    importId,
    beforeInsert: async (tx) => {
      const late = checkHorizon(rows, importHorizon(await lockedClock(tx)));
      if (late.length) throw outside(late, batch);
    },
    afterInsert: async (tx, counts) => {
      await aggregateRecords(tx, { kind: "import", importId });
      const from = Math.min(...reported);
      const to = Math.max(...reported);
      await tx.db
        .insertInto("usage_imports")
        .values({
          id: importId,
          source_seq: defaultSource,
          created_at: now,
          principal_id: actor.principalId,
          inserted: counts.inserted,
          duplicates: counts.duplicates + repeats,
          min_reported_at: from,
          max_reported_at: to,
        })
        .execute();
      await appendAudit(tx.db, actor, now, {
        action: "usage/import",
        target: `/usage-imports/${importId}`,
        details: {
          inserted: counts.inserted,
          duplicates: counts.duplicates + repeats,
          reportedFrom: toIso(from),
          reportedTo: toIso(to),
        },
      });
    },
  });
  deps.metrics.usageRecords.inc({ outcome: "imported" }, result.inserted);
  return { importId, inserted: result.inserted, duplicates: result.duplicates + repeats };
}

function outside(issues: FieldIssue[], batch: ParsedBatch): DomainError {
  if (batch.lines) for (const i of issues) i.line = batch.lines[i.index!];
  return new DomainError(
    "ValidationFailed",
    `${issues.length} record(s) have a reportedTime an import may not use; nothing was stored. ${issues[0]!.reason}.`,
    issues.slice(0, 10_000),
  );
}
