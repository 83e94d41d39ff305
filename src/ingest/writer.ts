import type { Statement } from "better-sqlite3";
import { type Kysely, sql } from "kysely";
import { DomainError } from "../domain/errors.js";
import type { Store } from "../storage/database.js";
import type { DB } from "../storage/schema.js";
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
  afterInsert?: (tx: TxContext, counts: { inserted: number; duplicates: number }) => Promise<void> | void;
  /** Runs inside the transaction before anything is written (imports check their horizon). */
  beforeInsert?: (tx: TxContext) => Promise<void> | void;
}

/** What the hooks can do inside the write transaction, on either database. */
export interface TxContext {
  store: Store;
  /** Kysely bound to the transaction. */
  db: Kysely<DB>;
  /** The Kysely transaction (PostgreSQL) or connection holding SQLite's write lock. */
  run<T = unknown>(query: ReturnType<typeof sql<T>>): Promise<T[]>;
}

const COLUMNS =
  "source_seq, record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, reported_at, resource_uri, location, tags, additional_info, import_id";
const CONTENT =
  "record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, resource_uri, location, tags, additional_info, reported_at, import_id";

/** Stores whose first live record is known to be recorded: no need to try again on every batch. */
const firstLiveKnown = new WeakSet<Store>();

function bySource(rows: RecordRow[], fallback: number): Map<number, RecordRow[]> {
  const out = new Map<number, RecordRow[]>();
  for (const r of rows) {
    const s = r.sourceSeq ?? fallback;
    const list = out.get(s) ?? [];
    list.push(r);
    out.set(s, list);
  }
  return out;
}

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
  insert: Map<number, Statement>;
  select: Map<number, Statement>;
  begin: Statement;
  commit: Statement;
  rollback: Statement;
  sealed: Statement;
  firstLive: Statement;
}
const sqliteStatements = new WeakMap<object, SqliteStatements>();

function statementsFor(store: Store): SqliteStatements {
  const db = store.sqlite!;
  let s = sqliteStatements.get(db);
  if (!s) {
    s = {
      insert: new Map(),
      select: new Map(),
      begin: db.prepare("begin immediate"),
      commit: db.prepare("commit"),
      rollback: db.prepare("rollback"),
      sealed: db.prepare("select value from usage_clock where name = 'sealed_until'"),
      firstLive: db.prepare(
        "update usage_clock set value = ? where name = 'first_live_at' and value is null",
      ),
    };
    sqliteStatements.set(db, s);
  }
  return s;
}

function insertStatement(store: Store, n: number) {
  const cache = statementsFor(store).insert;
  let st = cache.get(n);
  if (!st) {
    const values = Array.from({ length: n }, () => "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)").join(",");
    st = store.sqlite!.prepare(
      `insert into usage_records (${COLUMNS}) values ${values} on conflict (source_seq, record_id) do nothing`,
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
  const st = statementsFor(store);
  return store.db.connection().execute(async (conn) => {
    const tx: TxContext = {
      store,
      db: conn,
      run: async <T>(q: ReturnType<typeof sql<T>>) => (await q.execute(conn)).rows as T[],
    };
    st.begin.run();
    try {
      await opts.beforeInsert?.(tx);
      const reportedAt = Math.max(opts.now, Number((st.sealed.get() as { value: number }).value));
      const importId = opts.importId ?? null;
      let inserted = 0;
      // Rows of chunks where the database skipped some: duplicates or conflicts, sorted out below.
      const skipped: RecordRow[] = [];
      const params: unknown[] = [];
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        params.length = 0;
        for (const r of chunk) {
          const rec = r.record;
          params.push(
            r.sourceSeq ?? opts.sourceSeq,
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
        const changes = insertStatement(store, chunk.length).run(...params).changes;
        inserted += changes;
        if (changes < chunk.length) skipped.push(...chunk);
      }
      // Rows just inserted compare equal to themselves; any other difference is a conflict.
      const conflicts: number[] = [];
      for (const [sourceSeq, group] of bySource(skipped, opts.sourceSeq)) {
        const stored: StoredContent[] = [];
        for (let i = 0; i < group.length; i += 500) {
          const ids = group.slice(i, i + 500).map((r) => r.record.id);
          stored.push(...(selectStatement(store, ids.length).all(sourceSeq, ...ids) as StoredContent[]));
        }
        conflicts.push(...conflictsOf(group, stored));
      }
      if (conflicts.length) throw new ConflictingRecords(conflicts.sort((a, b) => a - b));
      if (inserted > 0 && importId === null && !firstLiveKnown.has(store)) {
        st.firstLive.run(reportedAt);
        firstLiveKnown.add(store);
      }
      await opts.afterInsert?.(tx, { inserted, duplicates: rows.length - inserted });
      st.commit.run();
      return { inserted, duplicates: rows.length - inserted, reportedAt };
    } catch (e) {
      if (raw.inTransaction) st.rollback.run();
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
      db: trx,
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
    const result = await sql`
      insert into usage_records (${sql.raw(COLUMNS)})
      select coalesce(r.source_seq, ${opts.sourceSeq}), r.record_id, r.subscription_seq, r.meter_seq, r.q_units, r.q_frac,
             r.usage_start, r.usage_end, coalesce(r.reported_at, ${reportedAt}), r.resource_uri, r.location,
             r.tags, r.additional_info, ${importId}
      from unnest(
        ${col((r) => r.record.id)}::text[], ${col((r) => r.subscriptionSeq)}::bigint[], ${col((r) => r.meterSeq)}::bigint[],
        ${col((r) => r.units)}::bigint[], ${col((r) => r.frac)}::bigint[], ${col((r) => r.record.usageStart)}::bigint[],
        ${col((r) => r.record.usageEnd)}::bigint[],
        ${col((r) => r.record.resourceUri)}::text[], ${col((r) => r.record.location)}::text[],
        ${col((r) => r.record.tags)}::text[], ${col((r) => r.record.additionalInfo)}::text[],
        ${col((r) => r.reportedAt ?? null)}::bigint[], ${col((r) => r.sourceSeq ?? null)}::bigint[]
      ) as r(record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, resource_uri,
             location, tags, additional_info, reported_at, source_seq)
      on conflict (source_seq, record_id) do nothing`.execute(trx);
    const inserted = Number(result.numAffectedRows ?? 0);
    // Rows just inserted compare equal to themselves; any other difference is a conflict.
    const conflicts: number[] = [];
    for (const [sourceSeq, group] of inserted < rows.length ? bySource(sorted, opts.sourceSeq) : []) {
      const stored = await sql<StoredContent>`
        select ${sql.raw(CONTENT)} from usage_records
        where source_seq = ${sourceSeq} and record_id = any(${group.map((r) => r.record.id)}::text[])`.execute(
        trx,
      );
      conflicts.push(...conflictsOf(group, stored.rows));
    }
    if (conflicts.length) throw new ConflictingRecords(conflicts.sort((a, b) => a - b));
    if (inserted > 0 && importId === null && !firstLiveKnown.has(store)) {
      await sql`update usage_clock set value = ${reportedAt} where name = 'first_live_at' and value is null`.execute(
        trx,
      );
      firstLiveKnown.add(store);
    }
    await opts.afterInsert?.(tx, { inserted: inserted, duplicates: rows.length - inserted });
    return { inserted: inserted, duplicates: rows.length - inserted, reportedAt };
  });
}
