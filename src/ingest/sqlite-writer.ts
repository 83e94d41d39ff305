import { existsSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { RetryableError } from "../domain/errors.js";
import { PACKAGE_ROOT } from "../paths.js";
import { translateDbError } from "../storage/errors.js";
import type { RecordRow } from "./rows.js";
import { flattenRows } from "./sqlite-batch.js";
import type { WriteReply, WriteRequest } from "./sqlite-writer-worker.js";
import { ConflictingRecords, type WriteResult } from "./writer.js";

/** The compiled writer thread (the test suite builds it before running). */
const WORKER = join(PACKAGE_ROOT, "dist", "src", "ingest", "sqlite-writer-worker.js");

/**
 * Client of the SQLite writer thread: posts live batches and resolves each with its result. One
 * per database file; `close` lets the thread finish what it holds and stop.
 */
export class SqliteWriterThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve(r: WriteResult): void; reject(e: unknown): void }>();
  private nextId = 1;

  private constructor(path: string) {
    this.worker = new Worker(WORKER, { workerData: { path } });
    this.worker.on("message", (r: WriteReply) => {
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      if (r.ok) w.resolve({ inserted: r.inserted, duplicates: r.duplicates, reportedAt: r.reportedAt });
      else if ("conflicts" in r) w.reject(new ConflictingRecords(r.conflicts));
      else w.reject(translateDbError(Object.assign(new Error(r.error), { code: r.code })));
    });
    this.worker.on("error", (e) => this.failAll(e));
    this.worker.on("exit", () =>
      this.failAll(new RetryableError("the SQLite writer thread stopped; retry the request.")),
    );
    this.worker.unref();
  }

  /** A writer thread for this SQLite file, or undefined where there can be none (in-memory databases, no build). */
  static open(path: string): SqliteWriterThread | undefined {
    if (path === ":memory:" || !existsSync(WORKER)) return undefined;
    return new SqliteWriterThread(path);
  }

  write(sourceSeq: number, now: number, rows: RecordRow[]): Promise<WriteResult> {
    const id = this.nextId++;
    const req: WriteRequest = { id, sourceSeq, now, flat: flattenRows(rows) };
    return new Promise<WriteResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage(req);
    });
  }

  private failAll(e: unknown): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    // The thread is unref'd so that it never keeps a process alive; while closing it must, or a
    // process with nothing else left to do exits before the thread has stopped and `close` never settles.
    this.worker.ref();
    const exited = new Promise<void>((r) => this.worker.once("exit", () => r()));
    this.worker.postMessage("close");
    await exited;
  }
}
