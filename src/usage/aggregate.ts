import { sql } from "kysely";
import type { TxContext } from "../ingest/writer.js";
import type { Store } from "../storage/database.js";

/** Which raw records an aggregation pass adds: one live reported hour, or one history import. */
export type AggregateSource = { kind: "hour"; hour: number } | { kind: "import"; importId: string };

// Inlined as SQL literals: better-sqlite3 binds JS numbers as REAL, and REAL arithmetic here would
// silently turn exact integer sums into floats. Sums are cast to bigint so that PostgreSQL (where
// sum(bigint) is numeric) divides them as integers too.
const HOUR_MS = sql.lit(3_600_000);
const DAY_MS = sql.lit(86_400_000);
const SCALE = sql.lit(10_000_000_000);

const INSTANCE_HASH = sql.raw("tally_instance_hash(r.resource_uri, r.location, r.tags, r.additional_info)");

function recordFilter(src: AggregateSource) {
  return src.kind === "hour"
    ? sql`r.reported_at >= ${src.hour} and r.reported_at < ${src.hour + 3_600_000} and r.import_id is null`
    : sql`r.import_id = ${src.importId}`;
}

/**
 * Adds raw records to the aggregates: interns their instances, then adds their sums to the hourly
 * and daily tables and widens the per-reported-hour usage bounds. Sums are normalised so the
 * fraction column stays below 1e10. Runs inside the caller's transaction; each record must be
 * aggregated exactly once (live hours once, after sealing; imports in their own transaction).
 */
export async function aggregateRecords(tx: TxContext, src: AggregateSource): Promise<void> {
  const where = recordFilter(src);
  const least = tx.store.dialect === "postgres" ? sql.raw("least") : sql.raw("min");
  const greatest = tx.store.dialect === "postgres" ? sql.raw("greatest") : sql.raw("max");
  await tx.run(sql`
    insert into usage_instances (subscription_seq, instance_hash, resource_uri, location, tags, additional_info)
    select r.subscription_seq, ${INSTANCE_HASH}, min(r.resource_uri), min(r.location), min(r.tags), min(r.additional_info)
    from usage_records r
    where ${where}
    group by r.subscription_seq, ${INSTANCE_HASH}
    on conflict (subscription_seq, instance_hash) do nothing`);

  for (const [table, bucket, reportedCol, size] of [
    ["usage_hourly", "usage_hour", "reported_hour", HOUR_MS],
    ["usage_daily", "usage_day", "reported_day", DAY_MS],
  ] as const) {
    await tx.run(sql`
      insert into ${sql.table(table)} (subscription_seq, ${sql.ref(bucket)}, meter_seq, instance_seq, ${sql.ref(reportedCol)}, q_units, q_frac, records)
      select r.subscription_seq, r.usage_start - r.usage_start % ${size}, r.meter_seq, i.seq, r.reported_at - r.reported_at % ${size},
             cast(sum(r.q_units) as bigint) + cast(sum(r.q_frac) as bigint) / ${SCALE}, cast(sum(r.q_frac) as bigint) % ${SCALE}, count(*)
      from usage_records r
      join usage_instances i on i.subscription_seq = r.subscription_seq and i.instance_hash = ${INSTANCE_HASH}
      where ${where}
      group by r.subscription_seq, r.usage_start - r.usage_start % ${size}, r.meter_seq, i.seq, r.reported_at - r.reported_at % ${size}
      on conflict (subscription_seq, ${sql.ref(bucket)}, meter_seq, instance_seq, ${sql.ref(reportedCol)}) do update set
        q_units = ${sql.table(table)}.q_units + excluded.q_units + (${sql.table(table)}.q_frac + excluded.q_frac) / ${SCALE},
        q_frac = (${sql.table(table)}.q_frac + excluded.q_frac) % ${SCALE},
        records = ${sql.table(table)}.records + excluded.records`);
  }

  await tx.run(sql`
    insert into usage_reported_bounds (reported_hour, min_usage_hour, max_usage_hour)
    select r.reported_at - r.reported_at % ${HOUR_MS}, min(r.usage_start - r.usage_start % ${HOUR_MS}),
           max(r.usage_start - r.usage_start % ${HOUR_MS})
    from usage_records r
    where ${where}
    group by r.reported_at - r.reported_at % ${HOUR_MS}
    on conflict (reported_hour) do update set
      min_usage_hour = ${least}(usage_reported_bounds.min_usage_hour, excluded.min_usage_hour),
      max_usage_hour = ${greatest}(usage_reported_bounds.max_usage_hour, excluded.max_usage_hour)`);
}

/** A transaction context over a store, for aggregation passes outside the ingest writer. */
export async function inTransaction<T>(store: Store, f: (tx: TxContext) => Promise<T>): Promise<T> {
  return store.db.transaction().execute((trx) =>
    f({
      store,
      db: trx,
      run: async <R>(q: ReturnType<typeof sql<R>>) => (await q.execute(trx)).rows as R[],
    }),
  );
}
