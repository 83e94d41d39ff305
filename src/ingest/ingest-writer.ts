import type { Store } from "../storage/database.js";
import { sqlitePath } from "../storage/database.js";
import type { RecordRow } from "./rows.js";
import { SqliteWriterThread } from "./sqlite-writer.js";
import { type WriteResult, writeBatch } from "./writer.js";

/**
 * Where live ingest batches are written: on a SQLite file, a writer thread started on first use
 * (inserts and fsync then run beside parsing and validation); on PostgreSQL, or where there can be
 * no writer thread, the store's own connections.
 */
export class IngestWriter {
  private thread: SqliteWriterThread | undefined | null = null;

  constructor(private readonly store: Store) {}

  private threadFor(): SqliteWriterThread | undefined {
    if (this.thread === null) {
      const path = this.store.sqlite?.name;
      this.thread =
        this.store.dialect === "sqlite" && path !== undefined
          ? SqliteWriterThread.open(sqlitePath(path))
          : undefined;
    }
    return this.thread;
  }

  write(sourceSeq: number, now: number, rows: RecordRow[]): Promise<WriteResult> {
    const thread = this.threadFor();
    return thread ? thread.write(sourceSeq, now, rows) : writeBatch(this.store, rows, { sourceSeq, now });
  }

  async close(): Promise<void> {
    if (this.thread) await this.thread.close();
    this.thread = undefined;
  }
}
