import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Clock, ManualClock } from "../src/clock.js";
import { type Config, loadConfig } from "../src/config.js";
import { type AppOptions, buildApp } from "../src/http/app.js";
import type { App } from "../src/http/types.js";
import { createLogger, openServices, type Services } from "../src/services.js";

export type DialectName = "sqlite" | "postgres";

/** The PostgreSQL server tests may use; CI sets it, a laptop without PostgreSQL runs SQLite only. */
export const POSTGRES_URL = process.env.TALLY_TEST_POSTGRES_URL || undefined;

export const DIALECTS: DialectName[] = POSTGRES_URL ? ["sqlite", "postgres"] : ["sqlite"];

export interface TestEnv {
  svc: Services;
  config: Config;
  dataDir: string;
  clock: Clock;
  schema: string | undefined;
  cleanup(): Promise<void>;
}

export function testConfig(
  dialect: DialectName,
  dataDir: string,
  extra: Record<string, string> = {},
): Config {
  return loadConfig({
    TALLY_DATA_DIR: dataDir,
    TALLY_LOG_LEVEL: "silent",
    ...(dialect === "postgres" ? { TALLY_DATABASE_URL: POSTGRES_URL! } : {}),
    ...extra,
  });
}

/**
 * A migrated, bootstrapped tally on a fresh database: a temp-dir SQLite file, or a schema of its
 * own on PostgreSQL that `cleanup` drops.
 */
export async function openTestEnv(
  dialect: DialectName,
  opts: { clock?: Clock; env?: Record<string, string> } = {},
): Promise<TestEnv> {
  const dataDir = mkdtempSync(join(tmpdir(), "tally-test-"));
  const config = testConfig(dialect, dataDir, opts.env);
  const schema = dialect === "postgres" ? `tally_t_${randomBytes(6).toString("hex")}` : undefined;
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const svc = await openServices(config, {
    migrate: true,
    clock,
    logger: createLogger({ logLevel: (process.env.TALLY_TEST_LOG as "error" | undefined) ?? "silent" }),
    ...(schema ? { schema } : {}),
  });
  return {
    svc,
    config,
    dataDir,
    clock,
    schema,
    async cleanup() {
      await svc.close();
      if (schema) await dropSchema(schema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Test schemas are dropped together after the whole run (test/global-setup.ts), not one by one:
 * Kysely's migrator introspects every schema of the database, and a schema dropped by one test
 * file while another file migrates made that migration fail now and then.
 */
export async function dropSchema(_schema: string): Promise<void> {}

/** Every schema a test run creates starts with this; the global setup drops them. */
export const TEST_SCHEMA_PREFIX = "tally_";

export interface TestApp extends TestEnv {
  app: App;
  operatorToken: string;
  /** `Authorization` header for the operator. */
  op: { authorization: string };
}

export async function openTestApp(
  dialect: DialectName,
  opts: { clock?: Clock; env?: Record<string, string>; app?: AppOptions } = {},
): Promise<TestApp> {
  const env = await openTestEnv(dialect, opts);
  const app = await buildApp(env.svc, opts.app);
  await app.ready();
  const operatorToken = await env.svc.tokens.sign({
    subject: env.svc.system.operatorPrincipalId,
    ttlMs: 400 * 86_400_000,
  });
  return {
    ...env,
    app,
    operatorToken,
    op: { authorization: `Bearer ${operatorToken}` },
    async cleanup() {
      await app.close();
      await env.cleanup();
    },
  };
}

export const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

/**
 * The operator's calls to a test app (given lazily: apps are opened in `beforeAll`): `req`
 * answers the reply; `ok` its JSON (undefined for 204), throwing with the body on any status ≥ 300;
 * `createAccounts` makes billing accounts named by their ids, in USD from November 2026 unless
 * their bodies say otherwise.
 */
export function operatorCalls(test: () => TestApp) {
  const req = (method: string, url: string, body?: unknown) =>
    test().app.inject({
      method: method as "GET",
      url,
      headers: test().op,
      ...(body ? { payload: body as object } : {}),
    });
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await req(method, url, body);
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.statusCode === 204 ? undefined : r.json();
  };
  const createAccounts = async (accounts: readonly (readonly [id: string, body: object])[]) => {
    for (const [id, body] of accounts)
      await ok("POST", "/api/v1/billing-accounts", {
        id,
        displayName: id,
        currency: "USD",
        firstPeriod: "2026-11",
        ...body,
      });
  };
  return { req, ok, createAccounts };
}
