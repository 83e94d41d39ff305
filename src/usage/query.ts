import type { Statement } from "better-sqlite3";
import { type CompiledQuery, type Expression, type RawBuilder, sql } from "kysely";
import { DAY, floorDay, HOUR } from "../domain/time.js";
import { perStore, queryNamed, type Store } from "../storage/database.js";
import { translateDbError } from "../storage/errors.js";

export type TimeBasis = "reported" | "usage";
export type Granularity = "hourly" | "daily";
export type GroupBy = "instance" | "meter" | "subscription";

/** A usage query over the aggregates, with subscriptions already resolved to internal keys. */
export interface AggregateQuery {
  basis: TimeBasis;
  granularity: Granularity;
  /** Inclusive start and exclusive end of the window, on `basis` time. */
  from: number;
  to: number;
  /** Sorted, distinct internal subscription keys in scope. */
  subscriptionSeqs: readonly number[];
  meterSeq?: number;
  groupBy: GroupBy;
  /**
   * The usage range, when the caller already knows it (`usageRange` of this window): an answered
   * reported window's range never changes, so a caller paging through one may look it up once.
   */
  range?: { lo: number; hi: number } | undefined;
  /**
   * PostgreSQL, with a cursor: the subscriptions in scope from the cursor's on, as a subquery
   * answering their keys (a scoped window, `directTenantWindow`), read in the same statement
   * instead of `subscriptionSeqs`, so that the page costs one round trip: the cursor continues
   * inside its subscription if the window holds it, then the window's other subscriptions follow.
   */
  subscriptionWindow?: Expression<{ seq: number }>;
}

/** Sort key of an aggregate row: subscription, usage bucket, meter, instance (-1 when grouped away). */
export type RowKey = [subscriptionSeq: number, bucket: number, meterSeq: number, instanceSeq: number];

export interface AggregateRow {
  key: RowKey;
  /** Sum of the whole-unit column and of the fraction column, as exact integer text. */
  units: string;
  frac: string;
}

/** A resource instance as stored (usage_instances): its content hash and its `instanceData` parts. */
export interface InstanceRow {
  hash: string;
  resourceUri: string;
  location: string | null;
  tags: string | null;
  additionalInfo: string | null;
}

/** A row as the driver answers it (SQLite; PostgreSQL answers packed rows, `unpackRows`). */
type RawRow = [s: number, b: number, m: number, i: number, u: string, f: string];

const toAggregateRow = (r: RawRow): AggregateRow => ({
  key: [Number(r[0]), Number(r[1]), Number(r[2]), Number(r[3])],
  units: r[4],
  frac: r[5],
});

const compareKeys = (a: RowKey, b: RowKey) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3];

/**
 * The usage buckets a query has to look at. On reported time, the reported hours of the window
 * bound the usage hours reported in them (usage_reported_bounds), so late usage is found without
 * scanning the whole history; on usage time, the window is the range.
 */
export async function usageRange(
  store: Store,
  q: Pick<AggregateQuery, "basis" | "granularity" | "from" | "to">,
) {
  if (q.basis === "usage") return { lo: q.from, hi: q.to };
  const b = await store.db
    .selectFrom("usage_reported_bounds")
    .select((eb) => [eb.fn.min("min_usage_hour").as("lo"), eb.fn.max("max_usage_hour").as("hi")])
    .where("reported_hour", ">=", q.from)
    .where("reported_hour", "<", q.to)
    .executeTakeFirst();
  if (!b || b.lo === null || b.hi === null) return undefined;
  const lo = Number(b.lo);
  const hi = Number(b.hi);
  return q.granularity === "hourly" ? { lo, hi: hi + HOUR } : { lo: floorDay(lo), hi: floorDay(hi) + DAY };
}

const rawStatements = new WeakMap<object, Map<string, Statement>>();

/**
 * The aggregate query on SQLite, read as arrays rather than row objects: a 1,000-row page costs
 * half as much (the usage APIs' pages are this query's main cost). It runs on the connection
 * Kysely hands out, so it waits its turn behind a transaction like any Kysely query. Statements
 * are kept per SQL text (their raw mode is set once).
 */
async function sqliteRows(store: Store, c: CompiledQuery): Promise<RawRow[]> {
  const handle = store.sqlite!;
  let cache = rawStatements.get(handle);
  if (!cache) {
    cache = new Map();
    rawStatements.set(handle, cache);
  }
  let stmt = cache.get(c.sql);
  if (stmt === undefined) {
    stmt = handle.prepare(c.sql).raw(true);
    if (cache.size >= 128) cache.delete(cache.keys().next().value!);
    cache.set(c.sql, stmt);
  }
  const s = stmt;
  return store.db.connection().execute(async () => {
    try {
      return s.all(...(c.parameters as unknown[])) as RawRow[];
    } catch (e) {
      throw translateDbError(e);
    }
  });
}

/** The rows of a packed answer: `s,b,m,i,u,f` separated by `;` (keys are safe integers, sums text). */
export function unpackRows(packed: string): AggregateRow[] {
  const out: AggregateRow[] = [];
  let at = 0;
  /** The integer at `at` (a `-` allowed first), stepping past it and the separator after it. */
  const int = () => {
    const negative = packed.charCodeAt(at) === 45;
    if (negative) at++;
    let v = 0;
    for (let c = packed.charCodeAt(at); c >= 48 && c <= 57; c = packed.charCodeAt(++at)) v = v * 10 + c - 48;
    at++;
    return negative ? -v : v;
  };
  while (at < packed.length) {
    const key: RowKey = [int(), int(), int(), int()];
    const comma = packed.indexOf(",", at);
    let end = packed.indexOf(";", comma + 1);
    if (end < 0) end = packed.length;
    out.push({ key, units: packed.slice(at, comma), frac: packed.slice(comma + 1, end) });
    at = end + 1;
  }
  return out;
}

/**
 * One page of aggregate rows after `after`, in key order, grouped by usage bucket (and by meter
 * and instance unless grouped away), summed over every reported bucket of the window. Walks the
 * subscriptions in key order, a chunk at a time, each chunk one index-ordered range query.
 */
export async function fetchAggregates(
  store: Store,
  q: AggregateQuery,
  after: RowKey | null,
  limit: number,
): Promise<AggregateRow[]> {
  const range = "range" in q ? q.range : await usageRange(store, q);
  if (!range) return [];
  const table = q.granularity === "hourly" ? "usage_hourly" : "usage_daily";
  const bucket = q.granularity === "hourly" ? "usage_hour" : "usage_day";
  const reported = q.granularity === "hourly" ? "reported_hour" : "reported_day";
  const grouping =
    q.groupBy === "instance"
      ? sql.raw(`subscription_seq, ${bucket}, meter_seq, instance_seq`)
      : q.groupBy === "meter"
        ? sql.raw(`subscription_seq, ${bucket}, meter_seq`)
        : sql.raw(`subscription_seq, ${bucket}`);
  const keyCols =
    q.groupBy === "instance"
      ? sql.raw(`subscription_seq as s, ${bucket} as b, meter_seq as m, instance_seq as i`)
      : q.groupBy === "meter"
        ? sql.raw(`subscription_seq as s, ${bucket} as b, meter_seq as m, -1 as i`)
        : sql.raw(`subscription_seq as s, ${bucket} as b, -1 as m, -1 as i`);
  const reportedFilter =
    q.basis === "reported"
      ? sql`and ${sql.ref(reported)} >= ${q.from} and ${sql.ref(reported)} < ${q.to}`
      : sql``;
  const meterFilter = q.meterSeq === undefined ? sql`` : sql`and meter_seq = ${q.meterSeq}`;

  /** Subscription keys, or a condition on `subscription_seq`. */
  type Subscriptions = readonly number[] | RawBuilder<unknown>;
  /** The rows of `subs` (after `cursor`, inside its subscription), at most `n`, as a statement to run. */
  const part = (subs: Subscriptions, cursor: RowKey | null, n: RawBuilder<unknown>) => {
    const subFilter = !Array.isArray(subs)
      ? (subs as RawBuilder<unknown>)
      : store.dialect === "postgres"
        ? sql`subscription_seq = any(${subs as number[]}::bigint[])`
        : sql`subscription_seq in (${sql.join(subs as number[])})`;
    // Within the cursor's subscription, continue strictly after the cursor's key.
    const cursorFilter =
      cursor === null
        ? sql``
        : q.groupBy === "instance"
          ? sql`and (${sql.ref(bucket)}, meter_seq, instance_seq) > (${cursor[1]}, ${cursor[2]}, ${cursor[3]})`
          : q.groupBy === "meter"
            ? sql`and (${sql.ref(bucket)}, meter_seq) > (${cursor[1]}, ${cursor[2]})`
            : sql`and ${sql.ref(bucket)} > ${cursor[1]}`;
    return sql`select ${keyCols}, cast(sum(q_units) as text) as u, cast(sum(q_frac) as text) as f
      from ${sql.table(table)}
      where ${subFilter} and ${sql.ref(bucket)} >= ${range.lo} and ${sql.ref(bucket)} < ${range.hi}
        ${reportedFilter} ${meterFilter} ${cursorFilter}
      group by ${grouping}
      order by ${grouping}
      limit ${n}`;
  };

  /**
   * At most `n` rows: the rest of the cursor's subscription, then (`next`) the first rows of the
   * subscriptions after it, in one statement (one round trip on PostgreSQL, where each costs as
   * much as the planning of a small query).
   */
  const run = async (
    subs: Subscriptions,
    cursor: RowKey | null,
    n: number,
    next: Subscriptions = [],
  ): Promise<AggregateRow[]> => {
    const noNext = Array.isArray(next) && next.length === 0;
    if (store.dialect === "sqlite" && !noNext) {
      // No round trips to save on SQLite, where the two statements cost less than the one.
      const head = await run(subs, cursor, n);
      return head.length < n ? [...head, ...(await run(next, null, n - head.length))] : head;
    }
    const first = part(subs, cursor, sql`${n}`);
    if (store.dialect === "sqlite")
      return (await sqliteRows(store, first.compile(store.db))).map(toAggregateRow);
    // PostgreSQL: the rows come back as one text value (`s,b,m,i,u,f;…`) rather than a row each:
    // the driver then makes one string, not six per row (its parsing was a third of a page's
    // time in the node process, and most of its garbage).
    const rowsCte = noNext
      ? sql`with r as materialized (${first})`
      : sql`with c as materialized (${first}), r as materialized (select * from c union all
          select * from (${part(next, null, sql`(${n} - (select count(*) from c))`)}) as p)`;
    const c = sql`${rowsCte} select string_agg(concat_ws(',', s, b, m, i, u, f), ';') from r`.compile(
      store.db,
    );
    // A named statement: each connection parses and plans each of the few shapes of it once.
    const [packed] = (await queryNamed<[string | null]>(store, c, "array"))[0]!;
    return packed === null ? [] : unpackRows(packed);
  };

  const out: AggregateRow[] = [];
  let subs = q.subscriptionSeqs;
  let chunk = 64;
  let i = 0;
  if (after !== null && q.subscriptionWindow !== undefined && store.dialect === "postgres") {
    const window = sql`array(${q.subscriptionWindow})`;
    out.push(
      ...(await run(
        // The cursor's subscription: one index range, the window only a condition checked once
        // (as an index key, `any` would search the index once for each of the window's keys).
        sql`subscription_seq = ${after[0]} and cast(${after[0]} as bigint) = any(${window})`,
        after,
        limit,
        sql`subscription_seq > ${after[0]} and subscription_seq = any(${window})`,
      )),
    );
    subs = [];
  } else if (after !== null) {
    subs = subs.filter((s) => s > after[0]);
    const next = subs.slice(0, chunk);
    out.push(...(await run([after[0]], after, limit, next)));
    i = next.length;
    chunk = Math.min(chunk * 4, 4096);
  }
  while (i < subs.length && out.length < limit) {
    const next = subs.slice(i, i + chunk);
    out.push(...(await run(next, null, limit - out.length)));
    i += next.length;
    chunk = Math.min(chunk * 4, 4096);
  }
  return out.sort((a, b) => compareKeys(a.key, b.key)).slice(0, limit);
}

/**
 * Resource instances, by internal key, as this process has read them. An instance row never
 * changes once stored (it is named by the hash of its content; usage of changed tags or
 * additionalInfo is a new instance), so what was read once stays true on every node, and no
 * entry needs invalidating. The same instances come back in every window a collector asks for
 * (hourly, day after day), and in a Daily page after the Hourly one: a page then looks up none.
 * Bounded by the text it holds, in two generations: entries go in the young one, a hit in the
 * old one moves there too, and when the young one holds half the bound it becomes the old one
 * and the old one is dropped — constant work per entry, whatever the pattern of use (a
 * least-recently-used list would do the same with more bookkeeping).
 */
export class InstanceCache {
  private young = new Map<number, InstanceRow>();
  private old = new Map<number, InstanceRow>();
  private youngChars = 0;

  constructor(private readonly maxChars: number) {}

  get(seq: number): InstanceRow | undefined {
    const r = this.young.get(seq);
    if (r !== undefined) return r;
    const aged = this.old.get(seq);
    if (aged !== undefined) this.set(seq, aged);
    return aged;
  }

  set(seq: number, r: InstanceRow): void {
    if (this.young.has(seq)) return;
    this.young.set(seq, r);
    this.youngChars += InstanceCache.chars(r);
    if (this.youngChars >= this.maxChars / 2) {
      this.old = this.young;
      this.young = new Map();
      this.youngChars = 0;
    }
  }

  /** Instances held (each counted once). */
  get size(): number {
    let n = this.young.size;
    for (const k of this.old.keys()) if (!this.young.has(k)) n++;
    return n;
  }

  private static chars(r: InstanceRow): number {
    return (
      64 +
      r.hash.length +
      r.resourceUri.length +
      (r.location?.length ?? 0) +
      (r.tags?.length ?? 0) +
      (r.additionalInfo?.length ?? 0)
    );
  }
}

/** At most ~32 million characters of instance text per store (~100,000 instances of ~300). */
const INSTANCE_CACHE_CHARS = 32_000_000;
const instanceCacheOf = perStore(() => new InstanceCache(INSTANCE_CACHE_CHARS));

/** The PostgreSQL statement reading instances by key (`$1`: the keys), compiled once per store. */
const instancesStatement = perStore((store): CompiledQuery => {
  const none: number[] = [];
  return sql`select seq, instance_hash, resource_uri, location, tags, additional_info from usage_instances
    where seq = any(${none}::bigint[])`.compile(store.db);
});

type InstanceColumns = [
  seq: number | string,
  hash: string,
  resourceUri: string,
  location: string | null,
  tags: string | null,
  additionalInfo: string | null,
];

/**
 * The resource instances of aggregate rows (`groupBy: "instance"`), by internal key: from the
 * process's `InstanceCache`, the others read (500 keys a statement; on PostgreSQL one named
 * statement whatever the count) and kept. Keys of rows grouped without instances (-1) are skipped.
 */
export async function instancesBySeq(
  store: Store,
  seqs: Iterable<number>,
): Promise<Map<number, InstanceRow>> {
  const cache = instanceCacheOf(store);
  const out = new Map<number, InstanceRow>();
  const missing = new Set<number>();
  for (const seq of seqs) {
    if (seq < 0 || out.has(seq) || missing.has(seq)) continue;
    const hit = cache.get(seq);
    if (hit !== undefined) out.set(seq, hit);
    else missing.add(seq);
  }
  const wanted = [...missing];
  for (let i = 0; i < wanted.length; i += 500) {
    const keys = wanted.slice(i, i + 500);
    const read =
      store.dialect === "postgres"
        ? await queryNamed<InstanceColumns>(
            store,
            { ...instancesStatement(store), parameters: [keys] },
            "array",
          )
        : (
            await store.db
              .selectFrom("usage_instances")
              .select(["seq", "instance_hash", "resource_uri", "location", "tags", "additional_info"])
              .where("seq", "in", keys)
              .execute()
          ).map(
            (r): InstanceColumns => [
              r.seq,
              r.instance_hash,
              r.resource_uri,
              r.location,
              r.tags,
              r.additional_info,
            ],
          );
    for (const r of read) {
      const row: InstanceRow = {
        hash: r[1],
        resourceUri: r[2],
        location: r[3],
        tags: r[4],
        additionalInfo: r[5],
      };
      out.set(Number(r[0]), row);
      cache.set(Number(r[0]), row);
    }
  }
  return out;
}
