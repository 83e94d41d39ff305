import { type CompiledQuery, sql } from "kysely";
import type { PoolClient } from "pg";
import Cursor from "pg-cursor";
import type { DailyUsageRow } from "../../domain/billing/types.js";
import { formatQuantity, joinQuantity, type Quantity, quantityFromUnits } from "../../domain/quantity.js";
import { ceilDay, dateOf, floorDay, monthOf, monthRange } from "../../domain/time.js";
import type { Store } from "../../storage/database.js";
import { translateDbError } from "../../storage/errors.js";
import { usageRange } from "../../usage/query.js";

/** The usage a document covers: its subscriptions' daily aggregates reported in its window. */
export interface UsageWindow {
  subscriptions: readonly { seq: number; id: string; displayName: string }[];
  /** Reported time [from, to) (epoch ms); widened to whole UTC days, as the daily table counts. */
  reportedFrom: number;
  reportedTo: number;
}

/** A daily row with its quantity also as a number of 1e-10 units, for the money allocation. */
export interface DailyRow extends DailyUsageRow {
  units: Quantity;
}

/** The total quantity of one subscription and meter in one usage period (`YYYY-MM`). */
export interface UsageTotal {
  subscriptionId: string;
  meterId: string;
  meter: MeterInfo | undefined;
  period: string;
  units: Quantity;
}

export interface MeterInfo {
  id: string;
  name: string;
  unit: string;
  category: string;
  subCategory: string;
}

/** Rows per read: small enough to keep memory flat, large enough that a read's overhead vanishes. */
const CHUNK = 4096;

const reportedDays = (w: UsageWindow) => ({ from: floorDay(w.reportedFrom), to: ceilDay(w.reportedTo) });

async function loadMeters(store: Store): Promise<Map<number, MeterInfo>> {
  const rows = await store.db
    .selectFrom("meters")
    .select(["seq", "id", "name", "unit", "category", "sub_category"])
    .execute();
  return new Map(
    rows.map((r) => [
      Number(r.seq),
      { id: r.id, name: r.name, unit: r.unit, category: r.category, subCategory: r.sub_category ?? "" },
    ]),
  );
}

/** The usage-day range to scan: what the window's reported hours bound (see `usageRange`). */
async function dayRange(store: Store, w: UsageWindow) {
  const r = reportedDays(w);
  return usageRange(store, { basis: "reported", granularity: "daily", from: r.from, to: r.to });
}

/**
 * A summed quantity's text and value from its summed columns (the fraction may carry into the
 * units). Plain number arithmetic while every figure is a safe integer, which is every realistic
 * one; bigint otherwise. A download formats millions of these.
 */
function quantityOf(u: string, f: string): [text: string, units: Quantity] {
  if (u.length <= 15 && f.length <= 15) {
    const frac = Number(f);
    const whole = Number(u) + Math.floor(frac / FRAC_SCALE);
    const rest = frac % FRAC_SCALE;
    if (Number.isSafeInteger(whole)) {
      const text =
        rest === 0 ? String(whole) : `${whole}.${String(rest).padStart(10, "0").replace(/0+$/, "")}`;
      return [text, quantityFromUnits(whole, rest)];
    }
  }
  const q = joinQuantity(u, f);
  return [formatQuantity(q), q];
}

const FRAC_SCALE = 10_000_000_000;

type RawRow = [
  s: unknown,
  d: unknown,
  m: unknown,
  i: unknown,
  u: string,
  f: string,
  ...inst: (string | null)[],
];

/**
 * SQLite: one subscription's rows after `after` (usage day, meter, instance), summed over the reported
 * days of the window, in key order, with the instance's details. Read in index order: the daily
 * table's key starts with (subscription, usage day, meter, instance). Both orderings name the
 * subscription although it is fixed: without it SQLite sorted each chunk's whole remaining range in
 * a temporary b-tree before applying the limit.
 */
function rowsQuery(
  seq: number,
  days: { lo: number; hi: number },
  reported: { from: number; to: number },
  after: [number, number, number] | null,
) {
  const keyset =
    after === null
      ? sql``
      : sql`and (usage_day, meter_seq, instance_seq) > (${after[0]}, ${after[1]}, ${after[2]})`;
  return sql`
    select g.s, g.d, g.m, g.i, g.u, g.f, inst.resource_uri, inst.location, inst.tags, inst.additional_info
    from (
      select subscription_seq as s, usage_day as d, meter_seq as m, instance_seq as i,
             cast(sum(q_units) as text) as u, cast(sum(q_frac) as text) as f
      from usage_daily
      where subscription_seq = ${seq} and usage_day >= ${days.lo} and usage_day < ${days.hi}
        and reported_day >= ${reported.from} and reported_day < ${reported.to} ${keyset}
      group by subscription_seq, usage_day, meter_seq, instance_seq
      order by subscription_seq, usage_day, meter_seq, instance_seq
      limit ${sql.lit(CHUNK)}
    ) g
    join usage_instances inst on inst.seq = g.i
    order by g.s, g.d, g.m, g.i`;
}

/**
 * The same rows on PostgreSQL, read through one cursor per subscription. Aggregated in index order
 * (GroupAggregate over the primary key, hash aggregation switched off for the transaction) with
 * the instance looked up per row, so the first rows come at once and the server holds no sorted
 * or hashed copy of the subscription's month; a join here made the planner hash, then sort,
 * everything before the first row.
 */
function pgRowsQuery(seq: number, days: { lo: number; hi: number }, reported: { from: number; to: number }) {
  return sql`
    select subscription_seq, usage_day, meter_seq, instance_seq,
           cast(sum(q_units) as text), cast(sum(q_frac) as text),
           (select json_build_array(resource_uri, location, tags, additional_info)
              from usage_instances where seq = instance_seq)
    from usage_daily
    where subscription_seq = ${seq} and usage_day >= ${days.lo} and usage_day < ${days.hi}
      and reported_day >= ${reported.from} and reported_day < ${reported.to}
    group by subscription_seq, usage_day, meter_seq, instance_seq
    order by subscription_seq, usage_day, meter_seq, instance_seq`;
}

/**
 * The daily usage section's rows: every usage day × meter × resource instance of the window's
 * subscriptions whose usage was reported in the window, late usage with its own usage date, ordered
 * by subscription, usage day, meter and instance (internal keys), quantities exact. Yields chunks
 * of at most a few thousand rows and reads the next only when the consumer asks, so memory stays
 * flat however large the file.
 *
 * SQLite: each chunk is a keyset read (`.iterate()` on the connection Kysely hands out), so the
 * connection is never held between chunks and ingest, rollups and other requests go on during a
 * long download. PostgreSQL: one pooled connection for the whole file, in one read-only snapshot,
 * one server-side cursor (pg-cursor) per subscription.
 */
export async function* dailyUsageRows(store: Store, w: UsageWindow): AsyncGenerator<DailyRow[]> {
  const days = await dayRange(store, w);
  if (!days || w.subscriptions.length === 0) return;
  const meters = await loadMeters(store);
  const reported = reportedDays(w);
  const subs = [...w.subscriptions].sort((a, b) => a.seq - b.seq);

  const dates = new Map<number, string>();
  const dateText = (day: number) => {
    let d = dates.get(day);
    if (d === undefined) {
      d = dateOf(day);
      dates.set(day, d);
    }
    return d;
  };
  const toRow = (sub: { id: string; displayName: string }, r: RawRow): DailyRow => {
    const meter = meters.get(Number(r[2]));
    const [quantity, units] = quantityOf(r[4], r[5]);
    return {
      usageDate: dateText(Number(r[1])),
      subscriptionId: sub.id,
      subscriptionName: sub.displayName,
      meterId: meter?.id ?? "",
      meterName: meter?.name ?? "",
      meterCategory: meter?.category ?? "",
      meterSubCategory: meter?.subCategory ?? "",
      meterRegion: "",
      unit: meter?.unit ?? "",
      quantity,
      units,
      resourceUri: r[6] ?? "",
      location: r[7] ?? null,
      tags: r[8] ?? null,
      additionalInfo: r[9] ?? null,
    };
  };

  if (store.sqlite) {
    const handle = store.sqlite;
    for (const sub of subs) {
      let after: [number, number, number] | null = null;
      for (;;) {
        const c: CompiledQuery = rowsQuery(sub.seq, days, reported, after).compile(store.db);
        const raw = await store.db.connection().execute(async () => {
          try {
            const out: RawRow[] = [];
            for (const r of handle
              .prepare(c.sql)
              .raw(true)
              .iterate(...(c.parameters as unknown[])))
              out.push(r as RawRow);
            return out;
          } catch (e) {
            throw translateDbError(e);
          }
        });
        if (raw.length === 0) break;
        yield raw.map((r) => toRow(sub, r));
        if (raw.length < CHUNK) break;
        const last = raw[raw.length - 1]!;
        after = [Number(last[1]), Number(last[2]), Number(last[3])];
      }
    }
    return;
  }

  if (!store.pool) throw new Error("usage downloads need SQLite or PostgreSQL");
  let client: PoolClient;
  try {
    client = await store.pool.connect();
  } catch (e) {
    throw translateDbError(e);
  }
  let ok = false;
  try {
    // One snapshot for the whole file; a plan that streams (see pgRowsQuery).
    await client.query("begin isolation level repeatable read read only");
    await client.query("set local enable_hashagg = off");
    await client.query("set local jit = off");
    for (const sub of subs) {
      const c = pgRowsQuery(sub.seq, days, reported).compile(store.db);
      const cursor = client.query(
        new Cursor<
          [
            unknown,
            unknown,
            unknown,
            unknown,
            string,
            string,
            [string, string | null, string | null, string | null],
          ]
        >(c.sql, c.parameters as unknown[], { rowMode: "array" }),
      );
      try {
        for (;;) {
          let raw: Awaited<ReturnType<typeof cursor.read>>;
          try {
            raw = await cursor.read(CHUNK);
          } catch (e) {
            throw translateDbError(e);
          }
          if (raw.length === 0) break;
          yield raw.map((r) => toRow(sub, [r[0], r[1], r[2], r[3], r[4], r[5], ...r[6]]));
        }
      } finally {
        await cursor.close();
      }
    }
    ok = true;
  } finally {
    try {
      await client.query(ok ? "commit" : "rollback");
    } finally {
      client.release();
    }
  }
}

/**
 * Each subscription's and meter's quantity per usage period over the same rows as
 * `dailyUsageRows`: what the money allocation divides by, and the statement's consumed quantity.
 * One small grouped query per usage month the window reaches back to.
 */
export async function usageTotals(store: Store, w: UsageWindow): Promise<UsageTotal[]> {
  const days = await dayRange(store, w);
  if (!days || w.subscriptions.length === 0) return [];
  const meters = await loadMeters(store);
  const reported = reportedDays(w);
  const bySeq = new Map(w.subscriptions.map((s) => [s.seq, s]));
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);
  const out: UsageTotal[] = [];
  for (let month = monthRange(days.lo); month.start < days.hi; month = monthRange(month.end)) {
    const lo = Math.max(month.start, days.lo);
    const hi = Math.min(month.end, days.hi);
    for (let i = 0; i < seqs.length; i += 4096) {
      const part = seqs.slice(i, i + 4096);
      const subFilter =
        store.dialect === "postgres"
          ? sql`subscription_seq = any(${part}::bigint[])`
          : sql`subscription_seq in (${sql.join(part)})`;
      const rows = await sql<{ s: number; m: number; u: string; f: string }>`
        select subscription_seq as s, meter_seq as m, cast(sum(q_units) as text) as u, cast(sum(q_frac) as text) as f
        from usage_daily
        where ${subFilter} and usage_day >= ${lo} and usage_day < ${hi}
          and reported_day >= ${reported.from} and reported_day < ${reported.to}
        group by subscription_seq, meter_seq`.execute(store.db);
      for (const r of rows.rows) {
        out.push({
          subscriptionId: bySeq.get(Number(r.s))!.id,
          meterId: meters.get(Number(r.m))?.id ?? "",
          meter: meters.get(Number(r.m)),
          period: monthOf(month.start),
          units: joinQuantity(r.u, r.f),
        });
      }
    }
  }
  return out;
}
