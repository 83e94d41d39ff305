import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import { translateDbError } from "./errors.js";

const rethrow = (e: unknown): never => {
  throw translateDbError(e);
};

/** Some drivers throw synchronously (better-sqlite3 through Kysely); catch both ways. */
async function guarded<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    return rethrow(e);
  }
}

class TranslatingConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    return guarded(() => this.inner.executeQuery<R>(q));
  }

  async *streamQuery<R>(q: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(q, chunkSize);
    } catch (e) {
      rethrow(e);
    }
  }
}

const unwrap = (c: DatabaseConnection) => (c instanceof TranslatingConnection ? c.inner : c);

/**
 * Wraps a driver so that every query, on every connection and in every transaction, reports
 * database errors as domain errors. On SQLite, transactions start with `BEGIN IMMEDIATE` so that
 * two processes writing one file wait on the busy timeout instead of failing on lock upgrade.
 */
class TranslatingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly immediateBegin: boolean,
  ) {}

  init() {
    return guarded(() => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new TranslatingConnection(await guarded(() => this.inner.acquireConnection()));
  }

  beginTransaction(c: DatabaseConnection, settings: TransactionSettings) {
    if (this.immediateBegin)
      return c.executeQuery(CompiledQuery.raw("begin immediate")).then(() => undefined);
    return guarded(() => this.inner.beginTransaction(unwrap(c), settings));
  }

  commitTransaction(c: DatabaseConnection) {
    return guarded(() => this.inner.commitTransaction(unwrap(c)));
  }

  rollbackTransaction(c: DatabaseConnection) {
    return guarded(() => this.inner.rollbackTransaction(unwrap(c)));
  }

  savepoint(c: DatabaseConnection, name: string, compile: Parameters<NonNullable<Driver["savepoint"]>>[2]) {
    return guarded(() => this.inner.savepoint!(unwrap(c), name, compile));
  }

  rollbackToSavepoint(
    c: DatabaseConnection,
    name: string,
    compile: Parameters<NonNullable<Driver["rollbackToSavepoint"]>>[2],
  ) {
    return guarded(() => this.inner.rollbackToSavepoint!(unwrap(c), name, compile));
  }

  releaseSavepoint(
    c: DatabaseConnection,
    name: string,
    compile: Parameters<NonNullable<Driver["releaseSavepoint"]>>[2],
  ) {
    return guarded(() => this.inner.releaseSavepoint!(unwrap(c), name, compile));
  }

  releaseConnection(c: DatabaseConnection) {
    return this.inner.releaseConnection(unwrap(c));
  }

  destroy() {
    return this.inner.destroy();
  }
}

export function translatingDialect(inner: Dialect, opts: { immediateBegin: boolean }): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createDriver: () => new TranslatingDriver(inner.createDriver(), opts.immediateBegin),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db) => inner.createIntrospector(db),
  };
}
