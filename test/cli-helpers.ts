import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vi } from "vitest";
import { main } from "../src/cli/main.js";
import { dropSchema, POSTGRES_URL } from "./helpers.js";

/**
 * The CLI in-process against a local database of its own, as `tally …` would run it: one
 * process-wide configuration from the environment (each CLI test file runs in its own worker), a
 * data dir and, on PostgreSQL, a schema of this file's own. Call at the top of the file; `setUp`
 * and `tearDown` go in `beforeAll` and `afterAll`.
 */
export function localCli(name: string) {
  const dataDir = mkdtempSync(join(tmpdir(), `tally-${name}-`));
  const schema = POSTGRES_URL
    ? `tally_${name.replace(/\W/g, "")}_${randomBytes(5).toString("hex")}`
    : undefined;
  process.env.TALLY_DATA_DIR = dataDir;
  process.env.TALLY_LOG_LEVEL = "silent";
  if (POSTGRES_URL && schema) {
    // The CLI's own database URL, pointed at the schema.
    const u = new URL(POSTGRES_URL);
    u.searchParams.set("options", `-c search_path=${schema}`);
    process.env.TALLY_DATABASE_URL = u.toString();
  }
  return {
    dataDir,
    schema,
    async setUp() {
      if (!POSTGRES_URL || !schema) return;
      const pg = await import("pg");
      const c = new pg.default.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`create schema ${schema}`);
      await c.end();
    },
    async tearDown() {
      if (schema) await dropSchema(schema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `work` with stdout and stderr captured; answers its exit code and what it printed. */
export async function captured(
  work: () => Promise<number>,
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    const code = await work();
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** `tally ARGS` in-process through `main`, with its exit code (or the `process.exitCode` a command set). */
export const runTally = (...args: string[]) =>
  captured(async () => {
    process.exitCode = undefined;
    const code = await main(["node", "tally", ...args]);
    return code || Number(process.exitCode ?? 0);
  });
