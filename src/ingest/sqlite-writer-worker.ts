import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { FLAT_WIDTH, SqliteBatch, unflattenRows } from "./sqlite-batch.js";

/**
 * The SQLite writer thread: owns a connection to the database file and stores live ingest batches,
 * so that inserting and waiting for fsync happen beside the main thread's parsing and validation.
 * Batches that queue up while a transaction commits are stored together in the next one (group
 * commit), each under its own savepoint: a conflicting batch rolls back alone.
 */
export interface WriteRequest {
  id: number;
  sourceSeq: number;
  now: number;
  flat: unknown[];
}

export type WriteReply =
  | { id: number; ok: true; inserted: number; duplicates: number; reportedAt: number }
  | { id: number; ok: false; conflicts: number[] }
  | { id: number; ok: false; error: string; code: string | undefined };

const MAX_GROUP_RECORDS = 20_000;

const { path } = workerData as { path: string };
const db = new Database(path);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 10000");
db.pragma("cache_size = -131072");
const batch = new SqliteBatch(db);
const begin = db.prepare("begin immediate");
const commit = db.prepare("commit");
const rollback = db.prepare("rollback");

const pending: WriteRequest[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  while (pending.length) {
    const group: WriteRequest[] = [];
    let size = 0;
    while (
      pending.length &&
      (group.length === 0 || size + pending[0]!.flat.length / FLAT_WIDTH <= MAX_GROUP_RECORDS)
    ) {
      const next = pending.shift()!;
      size += next.flat.length / FLAT_WIDTH;
      group.push(next);
    }
    const replies: WriteReply[] = [];
    try {
      begin.run();
      const sealed = batch.sealedUntil();
      for (const req of group) {
        const rows = unflattenRows(req.flat);
        const reportedAt = Math.max(req.now, sealed);
        db.exec("savepoint b");
        const r = batch.insert(rows, req.sourceSeq, reportedAt, null);
        if (r.conflicts.length) {
          db.exec("rollback to b");
          db.exec("release b");
          replies.push({ id: req.id, ok: false, conflicts: r.conflicts });
          continue;
        }
        db.exec("release b");
        if (r.inserted > 0) batch.markFirstLive(reportedAt);
        replies.push({
          id: req.id,
          ok: true,
          inserted: r.inserted,
          duplicates: rows.length - r.inserted,
          reportedAt,
        });
      }
      commit.run();
      batch.committed();
    } catch (e) {
      if (db.inTransaction) rollback.run();
      batch.rolledBack();
      const err = e as { message?: string; code?: string };
      for (const req of group)
        replies.push({ id: req.id, ok: false, error: err.message ?? String(e), code: err.code });
      // The replies already prepared for this group did not commit: answer the error for all.
      replies.splice(0, replies.length - group.length);
    }
    for (const r of replies) parentPort!.postMessage(r);
  }
}

parentPort!.on("message", (msg: WriteRequest | "close") => {
  if (msg === "close") {
    flush();
    db.close();
    parentPort!.close();
    return;
  }
  pending.push(msg);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});
