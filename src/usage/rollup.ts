import { sql } from "kysely";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import { floorHour, HOUR } from "../domain/time.js";
import { SEAL_LOCK } from "../ingest/writer.js";
import { type Loop, startLoop } from "../loop.js";
import type { Metrics } from "../metrics.js";
import type { Store } from "../storage/database.js";
import { aggregateRecords, inTransaction } from "./aggregate.js";
import { readUsageClock } from "./clock.js";

export interface RollupDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  config: { sealDelayMs: number };
}

/**
 * Seals every reported hour that ended at least `sealDelayMs` ago. On PostgreSQL the seal takes
 * the advisory lock that ingest transactions hold shared, so it waits for every transaction that
 * may still stamp a time in those hours; on SQLite the write lock does the same. After the seal
 * commits, every new record is stamped at or after the new watermark.
 */
export async function seal(deps: RollupDeps, now: number): Promise<number> {
  const target = floorHour(now - deps.config.sealDelayMs);
  await deps.store.db.transaction().execute(async (trx) => {
    if (deps.store.dialect === "postgres") await sql`select pg_advisory_xact_lock(${SEAL_LOCK})`.execute(trx);
    await sql`update usage_clock set value = ${target} where name = 'sealed_until' and value < ${target}`.execute(
      trx,
    );
  });
  return target;
}

/**
 * Aggregates every sealed reported hour not yet aggregated, one hour per transaction, advancing
 * `rolled_up_until` in the same transaction. Hours without records are skipped in one step. Safe
 * to run on several nodes at once: the watermark row is locked and re-read in each transaction.
 */
export async function rollUp(deps: RollupDeps): Promise<number> {
  for (;;) {
    const clock = await readUsageClock(deps.store.db);
    if (clock.closedUntil >= clock.sealedUntil) return clock.closedUntil;
    const next = await deps.store.db
      .selectFrom("usage_records")
      .select((eb) => eb.fn.min("reported_at").as("t"))
      .where("reported_at", ">=", clock.closedUntil)
      .where("reported_at", "<", clock.sealedUntil)
      .where("import_id", "is", null)
      .executeTakeFirst();
    const t = next?.t === null || next?.t === undefined ? null : Number(next.t);
    const started = performance.now();
    const done = await inTransaction(deps.store, async (tx) => {
      const lock = deps.store.dialect === "postgres" ? sql` for update` : sql``;
      const [row] = await tx.run<{ value: number }>(
        sql`select value from usage_clock where name = 'rolled_up_until'${lock}`,
      );
      if (Number(row!.value) !== clock.closedUntil) return false; // another node moved it; look again
      let until = clock.sealedUntil;
      if (t !== null) {
        const hour = floorHour(t);
        await aggregateRecords(tx, { kind: "hour", hour });
        until = hour + HOUR;
      }
      await tx.run(sql`update usage_clock set value = ${until} where name = 'rolled_up_until'`);
      return true;
    });
    if (done && t !== null) deps.metrics.rollupDuration.observe((performance.now() - started) / 1000);
  }
}

/** Seals and aggregates everything that can be, now. */
export async function closeHours(deps: RollupDeps): Promise<{ sealedUntil: number; closedUntil: number }> {
  const sealedUntil = await seal(deps, deps.clock.now());
  const closedUntil = await rollUp(deps);
  deps.metrics.sealedUntil.set(sealedUntil / 1000);
  deps.metrics.rolledUpUntil.set(closedUntil / 1000);
  return { sealedUntil, closedUntil };
}

/**
 * The background loop: closes hours every few seconds. Errors are logged and retried on the next
 * tick; `stop` waits for a pass in progress.
 */
export function startRollupLoop(deps: RollupDeps, intervalMs = 5_000): Loop {
  return startLoop(deps.logger, "closing usage hours failed", intervalMs, () => closeHours(deps));
}
