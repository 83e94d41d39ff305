import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { closeAllPeriods } from "../src/billing/run.js";
import { ManualClock } from "../src/clock.js";
import { loadConfig } from "../src/config.js";
import { monthOf } from "../src/domain/time.js";
import { buildApp } from "../src/http/app.js";
import { createLogger, openServices } from "../src/services.js";
import { openStore } from "../src/storage/database.js";
import { BENCH_METERS, rng } from "./data.js";
import { benchMonth, buildStore, MARKER } from "./usage-api.js";

/**
 * The monthly billing run (DESIGN §5): billing accounts for every subscription of the 10M-row
 * usage store — customer accounts per directory, a few resellers, an enterprise enrollment — then
 * the raw GROUP BY over the month, closing and invoicing every account, and one account's estimate.
 */
export interface BillingFigures {
  database: "sqlite" | "postgres";
  subscriptions: number;
  hourlyRows: number;
  dailyRows: number;
  accounts: { customer: number; reseller: number; enrollment: number };
  /** The same-run baseline: one GROUP BY (subscription, meter) over the month's hourly aggregates, read to the end. */
  rawHourlyGroupBySeconds: number;
  /** The same over the daily aggregates, by (subscription, day, meter): what the close reads. */
  rawDailyGroupBySeconds: number;
  closeAllSeconds: number;
  /** The process's CPU time (user + system) during the close: less sensitive than wall time to other load. */
  closeCpuSeconds: number;
  /** The machine's 1-minute load average when the close started (2 cores shared with other work). */
  loadAverage: number;
  invoices: number;
  lines: number;
  /** closeAllSeconds / rawHourlyGroupBySeconds. */
  ratioToRawGroupBy: number;
  /** `GET …/estimate` of a customer account (about five subscriptions), in-process HTTP. */
  estimate: { samples: number; p50Ms: number; p99Ms: number; maxMs: number };
  /** The same for the reseller and enrollment accounts (about a thousand subscriptions each). */
  largeEstimate: { samples: number; p50Ms: number; p99Ms: number; maxMs: number };
}

const DIRECTORIES = 2000;
const RESELLERS = 3;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const r2 = (ms: number) => Math.round(ms * 100) / 100;
const stats = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return {
    samples: s.length,
    p50Ms: r2(percentile(s, 0.5)),
    p99Ms: r2(percentile(s, 0.99)),
    maxMs: r2(s.at(-1)!),
  };
};
const dirGuid = (i: number) => `0b111000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;

export async function benchBilling(opts: {
  database: "sqlite" | "postgres";
  postgresUrl?: string;
  subscriptions: number;
  keep?: string;
  log: (s: string) => void;
}): Promise<BillingFigures> {
  const dataDir =
    opts.keep && opts.database === "sqlite" ? opts.keep : mkdtempSync(join(tmpdir(), "tally-bench-billing-"));
  mkdirSync(dataDir, { recursive: true });
  const schema =
    opts.database === "postgres"
      ? (opts.keep ?? `tally_bench_billing_${Date.now().toString(36)}`)
      : undefined;
  const databaseUrl =
    opts.database === "postgres"
      ? (() => {
          const u = new URL(opts.postgresUrl!);
          u.searchParams.set("options", `-c search_path=${schema}`);
          return u.toString();
        })()
      : join(dataDir, "tally.db");
  const reuse =
    opts.keep !== undefined && (opts.database === "postgres" || existsSync(join(dataDir, "tally.db")));
  if (schema) await (await openStore({ url: opts.postgresUrl!, schema })).close();
  let month = benchMonth();
  const clock = new ManualClock(month.start + 20 * DAY);
  const svc = await openServices(
    loadConfig({
      TALLY_DATA_DIR: dataDir,
      TALLY_DATABASE_URL: databaseUrl,
      TALLY_LOG_LEVEL: "warn",
      TALLY_TOKEN_MAX_TTL: "400d",
    }),
    { migrate: true, clock, logger: createLogger({ logLevel: "warn" }) },
  );
  const app = await buildApp(svc);
  await app.ready();
  const auth = {
    authorization: `Bearer ${await svc.tokens.sign({ subject: svc.system.operatorPrincipalId, ttlMs: 200 * DAY })}`,
  };
  const op = async (method: string, url: string, body?: unknown) => {
    const r = await app.inject({
      method: method as "GET",
      url,
      headers: auth,
      ...(body ? { payload: body as object } : {}),
    });
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.json();
  };
  const db = svc.store.db;
  try {
    const marker = reuse
      ? await db.selectFrom("meta").select("value").where("key", "=", MARKER).executeTakeFirst()
      : undefined;
    let built: { hourlyRows: number; dailyRows: number };
    if (marker && JSON.parse(marker.value).subscriptions === opts.subscriptions) {
      const m = JSON.parse(marker.value) as { hourlyRows: number; dailyRows: number; month: typeof month };
      built = m;
      month = m.month;
      opts.log(`  reusing the store in ${schema ?? dataDir}`);
    } else {
      opts.log(
        `  building ${opts.subscriptions.toLocaleString("en")} subscriptions × a month of hourly aggregates…`,
      );
      built = await buildStore(svc, opts.subscriptions, month, opts.log);
    }
    const period = monthOf(month.start);
    const monthEnd = month.start + month.hours * HOUR;

    // Accounts, once per store: directories, resellers, an enrollment, a price sheet.
    if (!(await db.selectFrom("billing_accounts").select("id").limit(1).executeTakeFirst())) {
      opts.log("  creating billing accounts…");
      const now = clock.now();
      for (let i = 0; i < DIRECTORIES; i += 500)
        await db
          .insertInto("directories")
          .values(
            Array.from({ length: Math.min(500, DIRECTORIES - i) }, (_, k) => ({
              id: dirGuid(i + k),
              display_name: `bench tenant ${i + k}`,
              created_at: now,
              updated_at: now,
            })),
          )
          .execute();
      // Spread the store's subscriptions over the directories (by internal key).
      const hex =
        svc.store.dialect === "postgres"
          ? sql`lpad(to_hex(seq % ${sql.lit(DIRECTORIES)}), 12, '0')`
          : sql`substr('000000000000' || lower(printf('%x', seq % ${sql.lit(DIRECTORIES)})), -12)`;
      await sql`update subscriptions set directory_id = '0b111000-0000-4000-8000-' || ${hex}
        where directory_id = '0ffe1ce0-0000-4000-8000-000000000001'`.execute(db);
      for (let r = 0; r < RESELLERS; r++) {
        await op("POST", "/api/v1/providers", { id: `bench-reseller-${r}`, displayName: `Reseller ${r}` });
        await sql`update subscriptions set provider_id = ${`bench-reseller-${r}`}
          where seq % ${sql.lit(10)} = ${sql.lit(1)} and seq % ${sql.lit(RESELLERS * 10)} = ${sql.lit(r * 10 + 1)}`.execute(
          db,
        );
        await op("POST", "/api/v1/billing-accounts", {
          id: `reseller-${r}`,
          kind: "reseller",
          displayName: `Reseller ${r}`,
          currency: "USD",
          providerId: `bench-reseller-${r}`,
          firstPeriod: period,
        });
      }
      await op("POST", "/api/v1/billing-accounts", {
        id: "enrollment",
        kind: "enrollment",
        displayName: "Enterprise",
        currency: "USD",
        taxRate: "8.25",
        firstPeriod: period,
      });
      for (let d = 0; d < 10; d++) {
        await op("POST", "/api/v1/billing-accounts/enrollment/departments", {
          id: `dep-${d}`,
          displayName: `Dep ${d}`,
          costCenter: `CC-${d}`,
        });
        for (let a = 0; a < 5; a++)
          await op("POST", "/api/v1/billing-accounts/enrollment/enrollment-accounts", {
            id: `acc-${d}-${a}`,
            departmentId: `dep-${d}`,
            displayName: `Account ${d}.${a}`,
          });
      }
      const enrolled = await db
        .selectFrom("subscriptions")
        .select(["id", "seq"])
        .where(sql<boolean>`seq % 10 = 2`)
        .execute();
      for (let i = 0; i < enrolled.length; i += 500)
        await db
          .insertInto("billing_assignments")
          .values(
            enrolled.slice(i, i + 500).map((s) => {
              const n = Number(s.seq);
              return {
                subscription_id: s.id,
                billing_account_id: "enrollment",
                department_id: `dep-${n % 10}`,
                account_id: `acc-${n % 10}-${Math.floor(n / 10) % 5}`,
                created_at: now,
              };
            }),
          )
          .execute();
      for (let i = 0; i < DIRECTORIES; i += 500)
        await db
          .insertInto("billing_accounts")
          .values(
            Array.from({ length: Math.min(500, DIRECTORIES - i) }, (_, k) => ({
              id: `tenant-${i + k}`,
              kind: "customer" as const,
              display_name: `Tenant ${i + k}`,
              currency: "USD",
              tax_rate: (i + k) % 2 ? "19" : null,
              issuer_name: "tally",
              address: null,
              directory_id: dirGuid(i + k),
              provider_id: null,
              first_period: period,
              created_at: now,
              updated_at: now,
            })),
          )
          .execute();
      await op("POST", "/api/v1/price-sheets", {
        offerId: "default",
        currency: "USD",
        effectiveDate: new Date(month.start - 31 * DAY).toISOString().slice(0, 10),
        meters: BENCH_METERS.map((meterId, i) => ({
          meterId,
          rates: { "0": `0.0${i + 1}25`, "100": `0.0${i + 1}`, "1000": `0.00${i + 5}` },
          includedQuantity: String(10 * i),
        })),
        terms: [
          { name: "Recurring Charge", recurringCharge: "4.99" },
          { name: "Monetary Credit", credit: "10" },
        ],
      });
    }
    // Each run starts from no invoices (the bench never finalizes, so drafts may go).
    await db.deleteFrom("invoice_lines").execute();
    await db.deleteFrom("invoices").execute();
    if (svc.store.dialect === "postgres") await sql`analyze`.execute(db);
    const counts = await db
      .selectFrom("billing_accounts")
      .select(["kind", (eb) => eb.fn.countAll<number>().as("n")])
      .groupBy("kind")
      .execute();
    const accounts = { customer: 0, reseller: 0, enrollment: 0 };
    for (const c of counts) accounts[c.kind] = Number(c.n);

    // The raw figures, same run, same driver.
    const timed = async (f: () => Promise<unknown>) => {
      const t0 = performance.now();
      await f();
      return (performance.now() - t0) / 1000;
    };
    const rawHourly = await timed(() =>
      sql`select subscription_seq, meter_seq, cast(sum(q_units) as text), cast(sum(q_frac) as text) from usage_hourly
        where usage_hour >= ${sql.lit(month.start)} and usage_hour < ${sql.lit(monthEnd)} and reported_hour < ${sql.lit(monthEnd)}
        group by subscription_seq, meter_seq`.execute(db),
    );
    const rawDaily = await timed(() =>
      sql`select subscription_seq, usage_day, meter_seq, cast(sum(q_units) as text), cast(sum(q_frac) as text) from usage_daily
        where usage_day >= ${sql.lit(month.start)} and usage_day < ${sql.lit(monthEnd)} and reported_day < ${sql.lit(monthEnd)}
        group by subscription_seq, usage_day, meter_seq`.execute(db),
    );
    opts.log(
      `  raw GROUP BY over the month: hourly ${rawHourly.toFixed(2)} s, daily ${rawDaily.toFixed(2)} s`,
    );

    // The monthly run: every account's period closed into a draft.
    clock.set(monthEnd + 5 * DAY);
    const actor = { principalId: "bench", requestId: "bench" };
    const loadAverage = loadavg()[0]!;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const run = await closeAllPeriods(svc, actor, { upTo: period });
    const closeAllSeconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const invoices = Number(
      (
        await db
          .selectFrom("invoices")
          .select((eb) => eb.fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
    const lines = Number(
      (
        await db
          .selectFrom("invoice_lines")
          .select((eb) => eb.fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
    opts.log(
      `  closed ${run.periods[0]?.closed ?? 0} accounts' ${period} (${invoices} invoices, ${lines.toLocaleString("en")} lines, ${run.unbilled} unbilled subscriptions) in ${closeAllSeconds.toFixed(2)} s (CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, load ${loadAverage.toFixed(2)})`,
    );

    // What autovacuum does within a minute of a close: the new invoices' statistics and visibility
    // map, and the dead rows of the drafts a rerun on a kept store discarded.
    if (svc.store.dialect === "postgres")
      await sql`vacuum analyze invoices, invoice_lines, billing_assignments, subscriptions`.execute(db);
    // Estimates, with the clock inside the month (all of its usage reported by then).
    clock.set(month.start + 25 * DAY);
    const rand = rng(7);
    const sample = async (ids: () => string, n: number) => {
      const ms: number[] = [];
      for (let i = 0; i < n + 20; i++) {
        const id = ids();
        const t = performance.now();
        const r = await app.inject({
          method: "GET",
          url: `/api/v1/billing-accounts/${id}/estimate`,
          headers: auth,
        });
        const dt = performance.now() - t;
        if (r.statusCode !== 200) throw new Error(`estimate ${id}: ${r.statusCode} ${r.body}`);
        if (i >= 20) ms.push(dt); // after a warm-up
      }
      return stats(ms);
    };
    const estimate = await sample(() => `tenant-${Math.floor(rand() * DIRECTORIES)}`, 500);
    const largeEstimate = await sample(
      () => (rand() < 0.75 ? `reseller-${Math.floor(rand() * RESELLERS)}` : "enrollment"),
      40,
    );
    opts.log(
      `  estimate of one customer account: p50 ${estimate.p50Ms} ms, p99 ${estimate.p99Ms} ms; of a reseller or the enrollment (~1,000 subscriptions): p50 ${largeEstimate.p50Ms} ms, p99 ${largeEstimate.p99Ms} ms`,
    );
    return {
      database: opts.database,
      subscriptions: opts.subscriptions,
      hourlyRows: built.hourlyRows,
      dailyRows: built.dailyRows,
      accounts,
      rawHourlyGroupBySeconds: r2(rawHourly),
      rawDailyGroupBySeconds: r2(rawDaily),
      closeAllSeconds: r2(closeAllSeconds),
      closeCpuSeconds: r2((cpu.user + cpu.system) / 1e6),
      loadAverage: r2(loadAverage),
      invoices,
      lines,
      ratioToRawGroupBy: r2(closeAllSeconds / rawHourly),
      estimate,
      largeEstimate,
    };
  } finally {
    await app.close();
    await svc.close();
    if (!opts.keep) {
      if (schema) {
        const s = await openStore({ url: opts.postgresUrl! });
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(s.db).catch(() => undefined);
        await s.close();
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}
