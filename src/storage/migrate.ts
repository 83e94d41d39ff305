import { type Migration, type MigrationProvider, type MigrationResultSet, Migrator, sql } from "kysely";
import type { Store } from "./database.js";
import * as m0001 from "./migrations/0001_foundation.js";
import * as m0002 from "./migrations/0002_metering.js";
import * as m0003 from "./migrations/0003_identity.js";
import * as m0004 from "./migrations/0004_rating.js";
import * as m0006 from "./migrations/0006_bridge.js";
import * as m0007 from "./migrations/0007_billing.js";

/** Every migration, in order. Migrations are frozen once released: add a new one, never edit. */
const migrations: Record<string, Migration> = {
  "0001_foundation": m0001,
  "0002_metering": m0002,
  "0003_identity": m0003,
  "0004_rating": m0004,
  "0006_bridge": m0006,
  "0007_billing": m0007,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export const latestMigration = Object.keys(migrations).at(-1)!;

/**
 * Kysely looks for its bookkeeping tables in every schema unless told which one; with several
 * tally schemas in one PostgreSQL database (tests, side-by-side installs) it would find another
 * schema's and never create its own. So it is pointed at the connection's current schema.
 */
async function migratorFor(store: Store): Promise<Migrator> {
  if (store.dialect !== "postgres") return new Migrator({ db: store.db, provider });
  const r = await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db);
  return new Migrator({ db: store.db, provider, migrationTableSchema: r.rows[0]!.schema });
}

export async function migrateToLatest(store: Store): Promise<string[]> {
  const migrator = await migratorFor(store);
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`migration ${failed} failed: ${String((result.error as Error).message ?? result.error)}`);
  }
  return (result.results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/** True when the database has every migration this build knows about. */
export async function isMigrated(store: Store): Promise<boolean> {
  const migrator = await migratorFor(store);
  const all = await migrator.getMigrations();
  return all.every((m) => m.executedAt !== undefined);
}
