import { sql } from "kysely";
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

/** An exact integer sum as the drivers give it: a safe number, a bigint, or integer text. */
type Sum = number | bigint | string;

const FRAC_SCALE = 10_000_000_000;

/**
 * A summed quantity's text and value from its summed columns (the fraction may carry into the
 * units). Plain number arithmetic while every figure is a safe integer, which is every realistic
 * one; bigint otherwise. A download formats millions of these.
 */
function quantityOf(u: Sum, f: Sum): [text: string, units: Quantity] {
  const un = typeof u === "string" && u.length <= 15 ? Number(u) : u;
  const fn = typeof f === "string" && f.length <= 15 ? Number(f) : f;
  if (typeof un === "number" && typeof fn === "number") {
    const whole = un + Math.floor(fn / FRAC_SCALE);
    const rest = fn % FRAC_SCALE;
    if (Number.isSafeInteger(whole)) {
      const text =
        rest === 0 ? String(whole) : `${whole}.${String(rest).padStart(10, "0").replace(/0+$/, "")}`;
      return [text, quantityFromUnits(whole, rest)];
    }
  }
  const q = joinQuantity(u, f);
  return [formatQuantity(q), q];
}

/** Exact integer sum, in plain numbers while they stay safe. */
const add = (a: number | bigint, b: Sum): number | bigint =>
  typeof a === "number" && typeof b === "number" && Number.isSafeInteger(a + b)
    ? a + b
    : BigInt(a) + BigInt(b);

/**
 * A stored daily row of one subscription: usage day, meter, instance, reported day, units (a number
 * while safe, else integer text: a JS number would round it), fraction (< 1e10).
 */
type StoredRow = [d: number, m: number, i: number, r: number, u: number | string, f: number];
type Instance = [uri: string, location: string | null, tags: string | null, info: string | null];

/** How rows are read on one database: in key order, a chunk at a time, and instances by key. */
interface RowReader {
  /** The subscription's next rows after `after`, at most `limit`; fewer means the end. */
  next(seq: number, after: StoredRow | null, limit: number): Promise<StoredRow[]>;
  instances(seqs: number[]): Promise<[seq: number, ...Instance][]>;
  close(ok: boolean): Promise<void>;
}

/**
 * The rows of a subscription's window in primary-key order, the key prefix named in both the
 * filter and the order so that the database walks the index without sorting (SQLite otherwise
 * sorted the whole remaining range before each chunk's limit; PostgreSQL hashed and sorted the
 * month before the first row). No GROUP BY and no join: the rows of one usage day × meter ×
 * instance (one per reported day) are consecutive and the reader sums them, and instances are read
 * per chunk and kept, which halved the database's share of a download.
 */
function rowsQuery(
  dialect: Store["dialect"],
  seq: number,
  days: { lo: number; hi: number },
  reported: { from: number; to: number },
  after: StoredRow | null,
  limit: number | null,
) {
  const keyset =
    after === null
      ? sql``
      : sql`and (usage_day, meter_seq, instance_seq, reported_day) > (${after[0]}, ${after[1]}, ${after[2]}, ${after[3]})`;
  // Units beyond 2^53 as text: both drivers would round them to a double (tally's pg pool parses
  // bigints as numbers, its cursors too).
  const units =
    dialect === "postgres"
      ? sql`cast(q_units as text)`
      : sql`case when q_units > ${sql.lit(Number.MAX_SAFE_INTEGER)} then cast(q_units as text) else q_units end`;
  return sql`
    select usage_day, meter_seq, instance_seq, reported_day, ${units}, q_frac
    from usage_daily
    where subscription_seq = ${seq} and usage_day >= ${days.lo} and usage_day < ${days.hi}
      and reported_day >= ${reported.from} and reported_day < ${reported.to} ${keyset}
    order by subscription_seq, usage_day, meter_seq, instance_seq, reported_day
    ${limit === null ? sql`` : sql`limit ${sql.lit(limit)}`}`;
}

/**
 * SQLite: each chunk a keyset read on the connection Kysely hands out (so the connection is never
 * held between chunks: ingest, rollups and other requests go on during a long download).
 */
function sqliteReader(
  store: Store,
  days: { lo: number; hi: number },
  reported: { from: number; to: number },
) {
  const handle = store.sqlite!;
  const run = <T>(f: () => T) =>
    store.db.connection().execute(async () => {
      try {
        return f();
      } catch (e) {
        throw translateDbError(e);
      }
    });
  const reader: RowReader = {
    next: (seq, after, limit) => {
      const c = rowsQuery("sqlite", seq, days, reported, after, limit).compile(store.db);
      return run(() => {
        const out: StoredRow[] = [];
        for (const r of handle
          .prepare(c.sql)
          .raw(true)
          .iterate(...(c.parameters as unknown[])))
          out.push(r as StoredRow);
        return out;
      });
    },
    instances: (seqs) =>
      run(
        () =>
          handle
            .prepare(
              "select seq, resource_uri, location, tags, additional_info from usage_instances where seq in (select value from json_each(?))",
            )
            .raw(true)
            .all(JSON.stringify(seqs)) as [number, ...Instance][],
      ),
    close: async () => {},
  };
  return reader;
}

/**
 * PostgreSQL: one pooled connection for the whole file in one read-only snapshot, one server-side
 * cursor (pg-cursor) per subscription; instances are read on another pooled connection (they are
 * never changed once stored, so any snapshot sees those the rows name).
 */
async function pgReader(
  store: Store,
  days: { lo: number; hi: number },
  reported: { from: number; to: number },
): Promise<RowReader> {
  const pool = store.pool!;
  let client: PoolClient;
  try {
    client = await pool.connect();
    await client.query("begin isolation level repeatable read read only");
  } catch (e) {
    throw translateDbError(e);
  }
  let open: { seq: number; cursor: Cursor<unknown[]> } | null = null;
  const closeCursor = async () => {
    if (open) await open.cursor.close();
    open = null;
  };
  const num = (v: unknown) => Number(v);
  return {
    async next(seq, _after, limit) {
      try {
        if (open?.seq !== seq) {
          await closeCursor();
          const c = rowsQuery("postgres", seq, days, reported, null, null).compile(store.db);
          open = {
            seq,
            cursor: client.query(new Cursor(c.sql, c.parameters as unknown[], { rowMode: "array" })),
          };
        }
        const rows = await open.cursor.read(limit);
        return rows.map((r) => {
          const u = r[4] as string;
          return [num(r[0]), num(r[1]), num(r[2]), num(r[3]), u.length <= 15 ? Number(u) : u, num(r[5])];
        });
      } catch (e) {
        throw translateDbError(e);
      }
    },
    async instances(seqs) {
      try {
        const r = await pool.query<[number, ...Instance]>({
          text: "select seq, resource_uri, location, tags, additional_info from usage_instances where seq = any($1::bigint[])",
          values: [seqs],
          rowMode: "array",
        });
        return r.rows.map((x) => [Number(x[0]), x[1], x[2], x[3], x[4]]);
      } catch (e) {
        throw translateDbError(e);
      }
    },
    async close(ok) {
      try {
        await closeCursor();
        await client.query(ok ? "commit" : "rollback");
      } finally {
        client.release();
      }
    },
  };
}

/** Instances held per subscription before the memory of them starts over. */
const INSTANCE_CACHE = 100_000;

/**
 * The daily usage section's rows: every usage day × meter × resource instance of the window's
 * subscriptions whose usage was reported in the window, late usage with its own usage date, ordered
 * by subscription, usage day, meter and instance (internal keys), quantities exact. Yields chunks
 * of at most a few thousand rows and reads the next only when the consumer asks, so memory stays
 * flat however large the file (see `sqliteReader` and `pgReader` for how each database streams).
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

  let reader: RowReader;
  if (store.sqlite) reader = sqliteReader(store, days, reported);
  else if (store.pool) reader = await pgReader(store, days, reported);
  else throw new Error("usage downloads need SQLite or PostgreSQL");
  let ok = false;
  let ahead: Promise<StoredRow[]> | undefined;
  try {
    for (const sub of subs) {
      let instances = new Map<number, Instance>();
      // The row being summed: usage day, meter, instance, units, fraction.
      let cur: [d: number, m: number, i: number, u: number | bigint, f: number | bigint] | null = null;
      const read = (after: StoredRow | null) => {
        const p = reader.next(sub.seq, after, chunk);
        p.catch(() => undefined); // awaited below; a failure must not count as unhandled meanwhile
        ahead = p;
        return p;
      };
      let next = read(null);
      for (;;) {
        const rows = await next;
        ahead = undefined;
        const last = rows.length < chunk;
        // The next chunk is on its way while this one is written (PostgreSQL works meanwhile).
        if (!last) next = read(rows[rows.length - 1]!);
        // The row still being summed is written with this chunk: its instance must be known too.
        const wanted = new Set<number>();
        if (cur !== null) wanted.add(cur[2]);
        for (const r of rows) wanted.add(r[2]);
        if (instances.size + wanted.size > INSTANCE_CACHE) instances = new Map();
        const missing = [...wanted].filter((i) => !instances.has(i));
        if (missing.length > 0)
          for (const x of await reader.instances(missing)) instances.set(x[0], [x[1], x[2], x[3], x[4]]);

        const out: DailyRow[] = [];
        const emit = (g: NonNullable<typeof cur>) => {
          const meter = meters.get(g[1]);
          const inst = instances.get(g[2]);
          const [quantity, units] = quantityOf(g[3], g[4]);
          out.push({
            usageDate: dateText(g[0]),
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
            resourceUri: inst?.[0] ?? "",
            location: inst?.[1] ?? null,
            tags: inst?.[2] ?? null,
            additionalInfo: inst?.[3] ?? null,
          });
        };
        for (const r of rows) {
          if (cur !== null && cur[0] === r[0] && cur[1] === r[1] && cur[2] === r[2]) {
            cur = [cur[0], cur[1], cur[2], add(cur[3], r[4]), add(cur[4], r[5])];
          } else {
            if (cur !== null) emit(cur);
            cur = [r[0], r[1], r[2], typeof r[4] === "string" ? BigInt(r[4]) : r[4], r[5]];
          }
        }
        if (last && cur !== null) emit(cur);
        if (out.length > 0) yield out;
        if (last) break;
      }
    }
    ok = true;
  } finally {
    await ahead?.catch(() => undefined);
    await reader.close(ok);
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
