import { execFileSync } from "node:child_process";
import { join } from "node:path";
import pg from "pg";

/** Drops the PostgreSQL schemas test runs create (all named `tally_…`), leftovers of a crashed run included. */
async function dropTestSchemas(): Promise<void> {
  const url = process.env.TALLY_TEST_POSTGRES_URL;
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ nspname: string }>(
      "select nspname from pg_namespace where nspname like 'tally\\_%'",
    );
    for (const { nspname } of r.rows) await client.query(`drop schema if exists "${nspname}" cascade`);
  } finally {
    await client.end();
  }
}

/**
 * The suite also runs compiled code: the `tally` binary in end-to-end tests and the SQLite writer
 * thread (worker threads load JavaScript). Build once before any test, incrementally. PostgreSQL
 * test schemas are dropped before and after the run, never during it.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const root = join(import.meta.dirname, "..");
  execFileSync(
    process.execPath,
    [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")],
    {
      stdio: "inherit",
    },
  );
  await dropTestSchemas();
  return dropTestSchemas;
}
