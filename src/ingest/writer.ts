import { type Kysely, sql } from "kysely";
import { DomainError } from "../domain/errors.js";
import type { Store } from "../storage/database.js";
import { translateDbError } from "../storage/errors.js";
import type { DB } from "../storage/schema.js";
import { type RecordRow, type StoredContent, sameStored } from "./rows.js";
import { SqliteBatch } from "./sqlite-batch.js";

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

// ---- SQLite (in this thread): the raw handle, under Kysely's connection lock so that no other
// query of this process runs inside the transaction. Live ingest normally goes to the writer
// thread (sqlite-writer.ts); this path serves imports and databases that cannot have one.

const batches = new WeakMap<object, SqliteBatch>();

async function writeSqlite(store: Store, rows: RecordRow[], opts: WriteOptions): Promise<WriteResult> {
  const raw = store.sqlite!;
  let batch = batches.get(raw);
  if (!batch) {
    batch = new SqliteBatch(raw);
    batches.set(raw, batch);
  }
  const b = batch;
  return store.db.connection().execute(async (conn) => {
    const tx: TxContext = {
      store,
      db: conn,
      run: async <T>(q: ReturnType<typeof sql<T>>) => (await q.execute(conn)).rows as T[],
    };
    raw.exec("begin immediate");
    try {
      await opts.beforeInsert?.(tx);
      const reportedAt = Math.max(opts.now, b.sealedUntil());
      const importId = opts.importId ?? null;
      const { inserted, conflicts } = b.insert(rows, opts.sourceSeq, reportedAt, importId);
      if (conflicts.length) throw new ConflictingRecords(conflicts);
      if (inserted > 0 && importId === null) b.markFirstLive(reportedAt);
      await opts.afterInsert?.(tx, { inserted, duplicates: rows.length - inserted });
      raw.exec("commit");
      b.committed();
      return { inserted, duplicates: rows.length - inserted, reportedAt };
    } catch (e) {
      if (raw.inTransaction) raw.exec("rollback");
      b.rolledBack();
      throw translateDbError(e);
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
    // One jsonb parameter: JSON.stringify is native and PostgreSQL parses it on its own core, where
    // pg's text-array literals cost Node twice the CPU per record.
    const payload = JSON.stringify(
      sorted.map((r) => [
        r.record.id,
        r.subscriptionSeq,
        r.meterSeq,
        r.units,
        r.frac,
        r.record.usageStart,
        r.record.usageEnd,
        r.record.resourceUri,
        r.record.location,
        r.record.tags,
        r.record.additionalInfo,
        r.reportedAt ?? null,
        r.sourceSeq ?? null,
      ]),
    );
    const result = await sql`
      insert into usage_records (${sql.raw(COLUMNS)})
      select coalesce((e->>12)::bigint, ${opts.sourceSeq}), e->>0, (e->>1)::bigint, (e->>2)::bigint, (e->>3)::bigint,
             (e->>4)::bigint, (e->>5)::bigint, (e->>6)::bigint, coalesce((e->>11)::bigint, ${reportedAt}), e->>7, e->>8,
             e->>9, e->>10, ${importId}
      from jsonb_array_elements(${payload}::jsonb) as e
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
