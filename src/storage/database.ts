import { hash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { type Compilable, type CompiledQuery, Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { translatingDialect } from "./dialect.js";
import { translateDbError } from "./errors.js";
import type { DB } from "./schema.js";

export type DialectName = "sqlite" | "postgres";

/** The SQL function the usage rollup identifies resource instances by (PostgreSQL: migration 0002). */
function instanceHashSql(uri: unknown, loc: unknown, tags: unknown, info: unknown): string {
  return hash("sha256", `${uri}\u0001${loc ?? ""}\u0001${tags ?? ""}\u0001${info ?? ""}`, "hex");
}

/** An open database: the Kysely instance plus what the hot paths need of the raw driver. */
export interface Store {
  readonly db: Kysely<DB>;
  readonly dialect: DialectName;
  /** The better-sqlite3 handle (SQLite only), for synchronous batch statements on the ingest path. */
  readonly sqlite: SQLite.Database | undefined;
  /** The pg pool (PostgreSQL only). */
  readonly pool: pg.Pool | undefined;
  /**
   * PostgreSQL only: the connections named statements run on (`preparedName`): the hot reads
   * (usage pages, estimates), each parsed and planned once per connection. Their sessions use
   * generic plans (`plan_cache_mode`), else every execution would be planned again; statements
   * whose plan depends on their values stay on `pool`. Idle connections are kept, with their
   * statements, for a few minutes.
   */
  readonly namedPool: pg.Pool | undefined;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** `postgres://…` / `postgresql://…`, `sqlite:PATH`, a file path, or `:memory:`. */
  url: string;
  /** PostgreSQL schema to use (created if missing); tests give each run its own. */
  schema?: string;
  poolSize?: number;
}

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//i.test(url);

export function sqlitePath(url: string): string {
  return url.replace(/^sqlite:(\/\/)?/i, "");
}

/** pg returns BIGINT as text by default; every BIGINT tally stores (ms, seq, quantity parts) is a safe integer. */
const pgTypes = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as "text");
  },
};

/**
 * Kysely's SQLite driver prepares every statement it runs; preparing costs tens of microseconds,
 * as much as running a small indexed query. The handle Kysely gets keeps the statements of the
 * last few hundred SQL texts and hands them out again, unless one is still busy (a streaming read
 * in progress), which gets a fresh statement.
 */
function withStatementCache(sqlite: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  return new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop !== "prepare") {
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      }
      return (source: string) => {
        const hit = cache.get(source);
        if (hit !== undefined && !hit.busy) return hit;
        const stmt = target.prepare(source);
        if (hit === undefined) {
          if (cache.size >= 256) cache.delete(cache.keys().next().value!);
          cache.set(source, stmt);
        }
        return stmt;
      };
    },
  });
}

const preparedNames = new Map<string, string>();

/**
 * A name for a PostgreSQL named (server-side prepared) statement of this text: its hash, so that
 * one name always means one text (pg prepares a name once per connection and refuses a name
 * reused for another text).
 */
export function preparedName(text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) {
    name = `tally_${hash("sha256", text, "hex").slice(0, 24)}`;
    if (preparedNames.size >= 1000) preparedNames.clear();
    preparedNames.set(text, name);
  }
  return name;
}

/**
 * A statement run as a PostgreSQL named (server-side prepared) statement on `namedPool`: parsed
 * and planned once per connection (see `preparedName`); rows as objects, or as arrays with
 * `rowMode: "array"`. PostgreSQL only; not for use inside a transaction.
 */
export async function queryNamed<R>(store: Store, c: CompiledQuery, rowMode?: "array"): Promise<R[]> {
  try {
    const r = await store.namedPool!.query({
      name: preparedName(c.sql),
      text: c.sql,
      values: [...c.parameters],
      ...(rowMode ? { rowMode } : {}),
    });
    return r.rows as R[];
  } catch (e) {
    throw translateDbError(e);
  }
}

/**
 * A value kept per store, made on its first use: what a process remembers of one database
 * (caches of facts that never change, compiled statements). Several stores in one process (the
 * tests) each get their own; a store closed and dropped takes its value with it.
 */
export function perStore<T>(make: (store: Store) => T): (store: Store) => T {
  const values = new WeakMap<Store, T>();
  return (store) => {
    let v = values.get(store);
    if (v === undefined) {
      v = make(store);
      values.set(store, v);
    }
    return v;
  };
}

/**
 * A hot read (usage pages, estimates): a named statement on PostgreSQL (`queryNamed`), elsewhere
 * through Kysely as usual. Not for use inside a transaction.
 */
export async function executePrepared<R>(store: Store, q: Compilable<R>): Promise<R[]> {
  const c = q.compile();
  return store.namedPool ? queryNamed<R>(store, c) : (await store.db.executeQuery(c)).rows;
}

/** A PostgreSQL URL with session settings added to its own `options` (which pg lets win over the config's). */
function withOptions(url: string, settings: readonly string[]): string {
  const u = new URL(url);
  u.searchParams.set("options", [u.searchParams.get("options"), ...settings].filter(Boolean).join(" "));
  return u.toString();
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  if (isPostgresUrl(opts.url)) {
    const schema = opts.schema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new Error(`bad schema name ${schema}`);
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      types: pgTypes,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    const namedPool = new pg.Pool({
      connectionString: withOptions(opts.url, [
        ...(schema ? [`-c search_path=${schema}`] : []),
        "-c plan_cache_mode=force_generic_plan",
      ]),
      max: opts.poolSize ?? 10,
      idleTimeoutMillis: 300_000,
      types: pgTypes,
    });
    if (schema) await pool.query(`create schema if not exists ${schema}`);
    const db = new Kysely<DB>({
      dialect: translatingDialect(new PostgresDialect({ pool }), { immediateBegin: false }),
    });
    return {
      db,
      dialect: "postgres",
      sqlite: undefined,
      pool,
      namedPool,
      close: async () => {
        await db.destroy();
        await namedPool.end();
      },
    };
  }
  const path = sqlitePath(opts.url);
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  // Durability (DESIGN §3.9): WAL with synchronous=FULL, so an acknowledged commit is on disk.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 10000");
  sqlite.pragma("cache_size = -262144"); // 256 MiB page cache
  sqlite.pragma("temp_store = MEMORY");
  sqlite.function("tally_instance_hash", { deterministic: true }, instanceHashSql);
  const db = new Kysely<DB>({
    dialect: translatingDialect(new SqliteDialect({ database: withStatementCache(sqlite) }), {
      immediateBegin: true,
    }),
  });
  return {
    db,
    dialect: "sqlite",
    sqlite,
    pool: undefined,
    namedPool: undefined,
    close: () => db.destroy(),
  };
}
