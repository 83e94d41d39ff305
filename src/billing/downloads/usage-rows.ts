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
function quantityOf(u: Sum, f: Sum): [text: string, units: Quantity] {
  const un = typeof u === "string" && u.length <= 15 ? Number(u) : u;
  const fn = typeof f === "string" && f.length <= 15 ? Number(f) : f;
  if (typeof un === "number" && typeof fn === "number") {
    const frac = fn;
    const whole = un + Math.floor(frac / FRAC_SCALE);
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

/** An exact integer sum as the drivers give it: a safe number, a bigint, or integer text. */
type Sum = number | bigint | string;

/** A summed row: keys, units and fraction, then the instance's columns. */
type RawRow = [s: unknown, d: unknown, m: unknown, i: unknown, u: Sum, f: Sum, ...inst: (string | null)[]];

/**
 * SQLite: a chunk of one subscription's stored rows after `after` (usage day, meter, instance,
 * reported day) in the window, in primary-key order. The rows of one usage day × meter × instance
 * (one per reported day) are consecutive and summed by the reader: SQLite's GROUP BY and a join to
 * the instances cost twice the plain index walk. Both the filter and the order name the
 * subscription so that SQLite walks the index without sorting.
 */
function chunkQuery(
  seq: number,
  days: { lo: number; hi: number },
  reported: { from: number; to: number },
  after: StoredRow | null,
  chunk: number,
) {
  const keyset =
    after === null
      ? sql``
      : sql`and (usage_day, meter_seq, instance_seq, reported_day) > (${after[0]}, ${after[1]}, ${after[2]}, ${after[3]})`;
  return sql`
    select usage_day, meter_seq, instance_seq, reported_day,
           case when q_units > ${sql.lit(Number.MAX_SAFE_INTEGER)} then cast(q_units as text) else q_units end, q_frac
    from usage_daily
    where subscription_seq = ${seq} and usage_day >= ${days.lo} and usage_day < ${days.hi}
      and reported_day >= ${reported.from} and reported_day < ${reported.to} ${keyset}
    order by subscription_seq, usage_day, meter_seq, instance_seq, reported_day
    limit ${sql.lit(chunk)}`;
}

const INSTANCES_SQL =
  "select seq, resource_uri, location, tags, additional_info from usage_instances where seq in (select value from json_each(?))";

/** Instances held per subscription before the memory of them starts over. */
const INSTANCE_CACHE = 100_000;

/** A stored row; units beyond 2^53 come as text (a JS number would round them), fractions are < 1e10. */
type StoredRow = [d: number, m: number, i: number, r: number, u: number | string, f: number];

/** Exact integer sum, in plain numbers while they stay safe. */
const add = (a: number | bigint, b: number | string): number | bigint =>
  typeof a === "number" && typeof b === "number" && Number.isSafeInteger(a + b)
    ? a + b
    : BigInt(a) + BigInt(b);
type Instance = [uri: string, location: string | null, tags: string | null, info: string | null];

async function* sqliteRows(
  store: Store,
  subs: readonly { seq: number; id: string; displayName: string }[],
  days: { lo: number; hi: number },
  reported: { from: number; to: number },
  toRow: (sub: { id: string; displayName: string }, r: RawRow) => DailyRow,
  chunk: number,
): AsyncGenerator<DailyRow[]> {
  const handle = store.sqlite!;
  for (const sub of subs) {
    let instances = new Map<number, Instance>();
    let after: StoredRow | null = null;
    // The row being summed: key, then units and fraction (bigint once a sum leaves the safe range).
    let cur: [d: number, m: number, i: number, u: number | bigint, f: number | bigint] | null = null;
    for (;;) {
      const c: CompiledQuery = chunkQuery(sub.seq, days, reported, after, chunk).compile(store.db);
      const pending = cur === null ? null : cur[2];
      const { rows, known } = await store.db.connection().execute(async () => {
        try {
          const rows = handle
            .prepare(c.sql)
            .raw(true)
            .all(...(c.parameters as unknown[])) as StoredRow[];
          // The row still being summed is written with this chunk: its instance must be known too.
          let missing = new Set<number>();
          if (pending !== null && !instances.has(pending)) missing.add(pending);
          for (const r of rows) if (!instances.has(r[2])) missing.add(r[2]);
          if (instances.size + missing.size > INSTANCE_CACHE) {
            instances = new Map();
            missing = new Set(rows.map((r) => r[2]));
            if (pending !== null) missing.add(pending);
          }
          if (missing.size > 0)
            for (const x of handle
              .prepare(INSTANCES_SQL)
              .raw(true)
              .iterate(JSON.stringify([...missing])) as IterableIterator<[number, ...Instance]>)
              instances.set(x[0], [x[1], x[2], x[3], x[4]]);
          return { rows, known: instances };
        } catch (e) {
          throw translateDbError(e);
        }
      });
      const out: DailyRow[] = [];
      const emit = (g: NonNullable<typeof cur>) => {
        const inst = known.get(g[2]);
        out.push(toRow(sub, [sub.seq, g[0], g[1], g[2], g[3], g[4], ...(inst ?? ["", null, null, null])]));
      };
      for (const r of rows) {
        if (cur !== null && cur[0] === r[0] && cur[1] === r[1] && cur[2] === r[2]) {
          cur = [cur[0], cur[1], cur[2], add(cur[3], r[4]), add(cur[4], r[5])];
        } else {
          if (cur !== null) emit(cur);
          cur = [r[0], r[1], r[2], typeof r[4] === "string" ? BigInt(r[4]) : r[4], r[5]];
        }
      }
      if (rows.length < chunk) {
        if (cur !== null) emit(cur);
        if (out.length > 0) yield out;
        break;
      }
      if (out.length > 0) yield out;
      after = rows[rows.length - 1]!;
    }
  }
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
 * SQLite: each chunk is a keyset read on the connection Kysely hands out, so the connection is
 * never held between chunks and ingest, rollups and other requests go on during a long download;
 * the instances a chunk names are read with it (`.iterate()`) and kept for the subscription. PostgreSQL: one pooled connection for the whole file, in one read-only snapshot,
 * one server-side cursor (pg-cursor) per subscription.
 */
export async function* dailyUsageRows(
  store: Store,
  w: UsageWindow,
  /** Rows per read (tests make it tiny to cross many chunk boundaries). */
  chunk = CHUNK,
): AsyncGenerator<DailyRow[]> {
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
    yield* sqliteRows(store, subs, days, reported, toRow, chunk);
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
            raw = await cursor.read(chunk);
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
