import { sql } from "kysely";
import { DomainError } from "../domain/errors.js";
import type { Store } from "../storage/database.js";
import { type RecordRow, type StoredContent, sameStored } from "./rows.js";

/** Advisory lock key: ingest holds it shared, sealing a reported hour holds it exclusively. */
export const SEAL_LOCK = 7_310_101;

export interface WriteResult {
  inserted: number;
  duplicates: number;
  /** The reported time stamped on live records (imports keep their own). */
  reportedAt: number;
}

/** Thrown inside the transaction so that it rolls back; carries the indexes of the conflicting records. */
export class ConflictingRecords extends DomainError {
  constructor(readonly indexes: number[]) {
    super(
      "Conflict",
      `${indexes.length} record(s) reuse the id of a stored record with different content; nothing was stored.`,
      undefined,
      { conflicts: indexes },
    );
  }
}

export interface WriteOptions {
  sourceSeq: number;
  now: number;
  /** Set for history imports: records keep their reported times and are tagged with the import. */
  importId?: string;
  /** Runs inside the transaction after the insert (imports aggregate their records there). */
  afterInsert?: (tx: TxContext) => Promise<void> | void;
  /** Runs inside the transaction before anything is written (imports check their horizon). */
  beforeInsert?: (tx: TxContext) => Promise<void> | void;
}

/** What the hooks can do inside the write transaction, on either database. */
export interface TxContext {
  store: Store;
  /** The Kysely transaction (PostgreSQL) or connection holding SQLite's write lock. */
  run<T = unknown>(query: ReturnType<typeof sql<T>>): Promise<T[]>;
}

const COLUMNS =
  "source_seq, record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, reported_at, instance_hash, resource_uri, location, tags, additional_info, import_id";
const CONTENT =
  "record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, resource_uri, location, tags, additional_info, reported_at, import_id";

/** Compares the records the database did not insert with what it holds; returns the conflicting indexes. */
function conflictsOf(notInserted: RecordRow[], stored: StoredContent[]): number[] {
  const byId = new Map(stored.map((s) => [s.record_id, s]));
  const out: number[] = [];
  for (const row of notInserted) {
    const s = byId.get(row.record.id);
    if (!s || !sameStored(row, s)) out.push(row.index);
  }
  return out;
}

/**
 * Stores a batch atomically: new records are inserted, re-sent identical ones counted as
 * duplicates, and any id re-used with different content rolls the whole batch back. Live records
 * are stamped with tally's reported time, never earlier than the sealed-hour watermark.
 */
export function writeBatch(store: Store, rows: RecordRow[], opts: WriteOptions): Promise<WriteResult> {
  return store.dialect === "sqlite" ? writeSqlite(store, rows, opts) : writePostgres(store, rows, opts);
}

// ---- SQLite: synchronous prepared statements on the raw handle, under Kysely's connection lock.

const CHUNK = 64;

interface SqliteStatements {
  insert: Map<number, import("better-sqlite3").Statement>;
  select: Map<number, import("better-sqlite3").Statement>;
}
const sqliteStatements = new WeakMap<object, SqliteStatements>();

function statementsFor(store: Store): SqliteStatements {
  let s = sqliteStatements.get(store.sqlite!);
  if (!s) {
    s = { insert: new Map(), select: new Map() };
    sqliteStatements.set(store.sqlite!, s);
  }
  return s;
}

function insertStatement(store: Store, n: number) {
  const cache = statementsFor(store).insert;
  let st = cache.get(n);
  if (!st) {
    const values = Array.from({ length: n }, () => "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)").join(",");
    st = store.sqlite!.prepare(
      `insert into usage_records (${COLUMNS}) values ${values} on conflict (source_seq, record_id) do nothing returning record_id`,
    );
    cache.set(n, st);
  }
  return st;
}

function selectStatement(store: Store, n: number) {
  const cache = statementsFor(store).select;
  let st = cache.get(n);
  if (!st) {
    st = store.sqlite!.prepare(
      `select ${CONTENT} from usage_records where source_seq = ? and record_id in (${Array(n).fill("?").join(",")})`,
    );
    cache.set(n, st);
  }
  return st;
}

async function writeSqlite(store: Store, rows: RecordRow[], opts: WriteOptions): Promise<WriteResult> {
  const raw = store.sqlite!;
  return store.db.connection().execute(async (conn) => {
    const tx: TxContext = {
      store,
      run: async <T>(q: ReturnType<typeof sql<T>>) => (await q.execute(conn)).rows as T[],
    };
    raw.prepare("begin immediate").run();
    try {
      await opts.beforeInsert?.(tx);
      const sealed = Number(
        (raw.prepare("select value from usage_clock where name = 'sealed_until'").get() as { value: number })
          .value,
      );
      const reportedAt = Math.max(opts.now, sealed);
      const importId = opts.importId ?? null;
      const inserted = new Set<string>();
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        const params: unknown[] = [];
        for (const r of chunk) {
          const rec = r.record;
          params.push(
            opts.sourceSeq,
            rec.id,
            r.subscriptionSeq,
            r.meterSeq,
            r.units,
            r.frac,
            rec.usageStart,
            rec.usageEnd,
            r.reportedAt ?? reportedAt,
            r.instanceHash,
            rec.resourceUri,
            rec.location,
            rec.tags,
            rec.additionalInfo,
            importId,
          );
        }
        for (const row of insertStatement(store, chunk.length).all(...params) as { record_id: string }[]) {
          inserted.add(row.record_id);
        }
      }
      const notInserted = rows.filter((r) => !inserted.has(r.record.id));
      if (notInserted.length) {
        const stored: StoredContent[] = [];
        for (let i = 0; i < notInserted.length; i += 500) {
          const ids = notInserted.slice(i, i + 500).map((r) => r.record.id);
          stored.push(...(selectStatement(store, ids.length).all(opts.sourceSeq, ...ids) as StoredContent[]));
        }
        const conflicts = conflictsOf(notInserted, stored);
        if (conflicts.length) throw new ConflictingRecords(conflicts);
      }
      if (inserted.size > 0 && importId === null) {
        raw
          .prepare("update usage_clock set value = ? where name = 'first_live_at' and value is null")
          .run(reportedAt);
      }
      await opts.afterInsert?.(tx);
      raw.prepare("commit").run();
      return { inserted: inserted.size, duplicates: rows.length - inserted.size, reportedAt };
    } catch (e) {
      if (raw.inTransaction) raw.prepare("rollback").run();
      throw e;
    }
  });
}

// ---- PostgreSQL: one unnest insert per batch, inside a transaction holding the seal lock shared.

async function writePostgres(store: Store, rows: RecordRow[], opts: WriteOptions): Promise<WriteResult> {
  // A consistent insertion order keeps concurrent batches with overlapping ids from deadlocking.
  const sorted = [...rows].sort((a, b) =>
    a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0,
  );
  return store.db.transaction().execute(async (trx) => {
    const tx: TxContext = {
      store,
      run: async <T>(q: ReturnType<typeof sql<T>>) => (await q.execute(trx)).rows as T[],
    };
    const importId = opts.importId ?? null;
    let reportedAt = opts.now;
    if (importId === null) {
      await sql`select pg_advisory_xact_lock_shared(${SEAL_LOCK})`.execute(trx);
      const sealed = await sql<{
        value: number;
      }>`select value from usage_clock where name = 'sealed_until'`.execute(trx);
      reportedAt = Math.max(opts.now, Number(sealed.rows[0]!.value));
    }
    await opts.beforeInsert?.(tx);
    const col = <T>(f: (r: RecordRow) => T) => sorted.map(f);
    const result = await sql<{ record_id: string }>`
      insert into usage_records (${sql.raw(COLUMNS)})
      select ${opts.sourceSeq}, r.record_id, r.subscription_seq, r.meter_seq, r.q_units, r.q_frac, r.usage_start,
             r.usage_end, coalesce(r.reported_at, ${reportedAt}), r.instance_hash, r.resource_uri, r.location, r.tags,
             r.additional_info, ${importId}
      from unnest(
        ${col((r) => r.record.id)}::text[], ${col((r) => r.subscriptionSeq)}::bigint[], ${col((r) => r.meterSeq)}::bigint[],
        ${col((r) => r.units)}::bigint[], ${col((r) => r.frac)}::bigint[], ${col((r) => r.record.usageStart)}::bigint[],
        ${col((r) => r.record.usageEnd)}::bigint[], ${col((r) => r.instanceHash)}::text[], ${col((r) => r.record.resourceUri)}::text[],
        ${col((r) => r.record.location)}::text[], ${col((r) => r.record.tags)}::text[], ${col((r) => r.record.additionalInfo)}::text[],
        ${col((r) => r.reportedAt ?? null)}::bigint[]
      ) as r(record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, instance_hash, resource_uri,
             location, tags, additional_info, reported_at)
      on conflict (source_seq, record_id) do nothing
      returning record_id`.execute(trx);
    const inserted = new Set(result.rows.map((r) => r.record_id));
    const notInserted = sorted.filter((r) => !inserted.has(r.record.id));
    if (notInserted.length) {
      const stored = await sql<StoredContent>`
        select ${sql.raw(CONTENT)} from usage_records
        where source_seq = ${opts.sourceSeq} and record_id = any(${notInserted.map((r) => r.record.id)}::text[])`.execute(
        trx,
      );
      const conflicts = conflictsOf(notInserted, stored.rows);
      if (conflicts.length) throw new ConflictingRecords(conflicts.sort((a, b) => a - b));
    }
    if (inserted.size > 0 && importId === null) {
      await sql`update usage_clock set value = ${reportedAt} where name = 'first_live_at' and value is null`.execute(
        trx,
      );
    }
    await opts.afterInsert?.(tx);
    return { inserted: inserted.size, duplicates: rows.length - inserted.size, reportedAt };
  });
}
