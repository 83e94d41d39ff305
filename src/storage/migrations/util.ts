import { type CreateTableBuilder, type Kysely, PostgresAdapter } from "kysely";

// Frozen helpers for migrations: they must keep producing the same DDL forever.

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against an untyped database
export type AnyDb = Kysely<any>;

export const isPg = (db: AnyDb) => db.getExecutor().adapter instanceof PostgresAdapter;

/** An internal integer primary key: a rowid alias on SQLite, an identity column on PostgreSQL. */
export function seqKey<T extends string>(db: AnyDb) {
  return (tb: CreateTableBuilder<T, never>) =>
    isPg(db)
      ? tb.addColumn("seq", "bigint", (c) => c.primaryKey().generatedByDefaultAsIdentity())
      : tb.addColumn("seq", "integer", (c) => c.primaryKey());
}
