import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createLogger, openServices } from "../../src/services.js";
import { createSource } from "../../src/sources/service.js";
import { DIALECTS, dropSchema, guid, POSTGRES_URL } from "../helpers.js";

const BIN = join(import.meta.dirname, "..", "..", "bin", "tally.js");
const H = 3_600_000;

function start(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, "serve"], { env, stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /tally is running at (http:\/\/\S+)/.exec(err);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on("exit", (c) => reject(new Error(`server exited (${c}): ${err}`)));
  });
}

describe.each(DIALECTS)("a server killed during ingest (%s)", (dialect) => {
  const dataDir = mkdtempSync(join(tmpdir(), "tally-crash-"));
  const schema = dialect === "postgres" ? `tally_crash_${randomBytes(5).toString("hex")}` : undefined;
  const databaseUrl =
    dialect === "postgres"
      ? (() => {
          const u = new URL(POSTGRES_URL!);
          u.searchParams.set("options", `-c search_path=${schema}`);
          return u.toString();
        })()
      : join(dataDir, "tally.db");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TALLY_DATA_DIR: dataDir,
    TALLY_DATABASE_URL: databaseUrl,
    TALLY_PORT: "0",
    TALLY_HOST: "127.0.0.1",
    TALLY_LOG_LEVEL: "warn",
  };
  afterAll(async () => {
    if (schema) await dropSchema(schema);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("loses no acknowledged record and counts none twice after a restart", async () => {
    if (schema) {
      const pg = await import("pg");
      const c = new pg.default.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`create schema ${schema}`);
      await c.end();
    }
    const config = loadConfig(env as Record<string, string>);
    let svc = await openServices(config, { migrate: true, logger: createLogger({ logLevel: "silent" }) });
    const sub = guid(0xc0ffee);
    const now = Date.now();
    await svc.store.db
      .insertInto("directories")
      .values({ id: guid(0xd1), display_name: "D", created_at: now, updated_at: now })
      .execute();
    await svc.store.db
      .insertInto("subscriptions")
      .values({
        id: sub,
        display_name: "S",
        directory_id: guid(0xd1),
        provider_id: "operator",
        offer_id: "default",
        state: "Active",
        created_at: now,
        updated_at: now,
        deleted_at: null,
      })
      .execute();
    const { apiKey } = await createSource(
      svc,
      { principalId: svc.system.operatorPrincipalId, requestId: "t" },
      { name: "crash-rp" },
    );
    await svc.close();

    const hour = Math.floor(now / H) * H - H;
    const batches = Array.from({ length: 60 }, (_, b) =>
      Array.from({ length: 250 }, (_, i) => ({
        id: `b${b}-r${i}`,
        subscriptionId: sub,
        meterId: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
        quantity: "1",
        usageStartTime: new Date(hour).toISOString(),
        usageEndTime: new Date(hour + H).toISOString(),
        resourceUri: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm${b}-${i}`,
      })),
    );
    const post = (url: string, b: number) =>
      fetch(`${url}/api/v1/usage-records`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": apiKey },
        body: JSON.stringify(batches[b]),
      });

    // Four writers in flight; the server is killed hard once some batches are acknowledged.
    const first = await start(env);
    const acked = new Set<number>();
    let next = 0;
    let killed = false;
    const writer = async () => {
      while (next < batches.length) {
        const b = next++;
        try {
          const r = await post(first.url, b);
          if (r.status === 200) acked.add(b);
          else await r.text();
        } catch {
          return; // connection lost: the server is gone
        }
        if (!killed && acked.size >= 15) {
          killed = true;
          first.child.kill("SIGKILL");
        }
      }
    };
    const exited = new Promise((r) => first.child.on("exit", r));
    await Promise.all([writer(), writer(), writer(), writer()]);
    if (!killed) first.child.kill("SIGKILL");
    await exited;
    expect(acked.size).toBeGreaterThanOrEqual(15);
    expect(acked.size).toBeLessThan(batches.length);

    // Restart, then resend everything: acknowledged batches must come back as duplicates only.
    const second = await start(env);
    try {
      for (let b = 0; b < batches.length; b++) {
        const r = await post(second.url, b);
        expect(r.status).toBe(200);
        const body = (await r.json()) as { inserted: number; duplicates: number };
        expect(body.inserted + body.duplicates).toBe(250);
        if (acked.has(b)) expect(body).toEqual({ inserted: 0, duplicates: 250 });
      }
    } finally {
      const gone = new Promise((r) => second.child.on("exit", r));
      second.child.kill("SIGTERM");
      await gone;
    }
    svc = await openServices(config, { migrate: false, logger: createLogger({ logLevel: "silent" }) });
    try {
      const n = await svc.store.db
        .selectFrom("usage_records")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      expect(Number(n.n)).toBe(60 * 250);
    } finally {
      await svc.close();
    }
  }, 60_000);
});
