import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import type { BillingDocumentSource } from "../src/billing/ports.js";
import { ManualClock } from "../src/clock.js";
import { loadConfig } from "../src/config.js";
import { buildApp } from "../src/http/app.js";
import { registerBillingDownloads } from "../src/http/routes/billing-downloads.js";
import { createLogger, openServices } from "../src/services.js";
import { openStore } from "../src/storage/database.js";

export interface ExportFigures {
  database: "sqlite" | "postgres";
  rows: number;
  bytes: number;
  /** The raw figure: one ordered read of the same rows through the driver, nothing else. */
  rawRowsPerSec: number;
  /** The v2 download over HTTP on loopback, read to the last byte by curl (another process). */
  tallyRowsPerSec: number;
  ratio: number;
  /** The server process's peak resident set during the download. */
  peakRssMb: number;
  rssBeforeMb: number;
}

const D = 86_400_000;
const NOV = Date.UTC(2026, 10, 1);
const DAYS = 30;
const METERS = ["FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5", "09F8879E-87E9-4305-A572-4B7BE209F857"];
const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

/**
 * The v2 usage file of one billing account's month: `subscriptions` subscriptions × instances ×
 * 30 days × 2 meters of daily aggregates written straight into the tables, downloaded over HTTP.
 */
export async function benchExport(opts: {
  database: "sqlite" | "postgres";
  postgresUrl?: string;
  rows: number;
  subscriptions: number;
  log: (s: string) => void;
}): Promise<ExportFigures> {
  const dir = mkdtempSync(join(tmpdir(), "tally-bench-export-"));
  const schema =
    opts.database === "postgres" ? `tally_bench_export_${randomBytes(4).toString("hex")}` : undefined;
  const clock = new ManualClock(Date.UTC(2026, 11, 2));
  const svc = await openServices(
    loadConfig({
      TALLY_DATA_DIR: dir,
      TALLY_LOG_LEVEL: "silent",
      ...(opts.postgresUrl ? { TALLY_DATABASE_URL: opts.postgresUrl } : {}),
    }),
    { migrate: true, clock, logger: createLogger({ logLevel: "silent" }), ...(schema ? { schema } : {}) },
  );
  try {
    const db = svc.store.db;
    const pg = svc.store.dialect === "postgres";
    const perSub = Math.ceil(opts.rows / (opts.subscriptions * DAYS * METERS.length));
    await db
      .insertInto("directories")
      .values({ id: guid(1), display_name: "Bench", created_at: clock.now(), updated_at: clock.now() })
      .execute();
    const subs: { seq: number; id: string; displayName: string }[] = [];
    const series = (n: number) =>
      pg
        ? sql`(select g as x from generate_series(0, ${sql.lit(n - 1)}) g)`
        : sql`(with recursive s(x) as (select 0 union all select x + 1 from s where x < ${sql.lit(n - 1)}) select x from s)`;
    const started = performance.now();
    for (let s = 0; s < opts.subscriptions; s++) {
      const id = guid(0x1000 + s);
      const row = await db
        .insertInto("subscriptions")
        .values({
          id,
          display_name: `Sub ${s}`,
          directory_id: guid(1),
          provider_id: svc.system.rootProviderId,
          offer_id: "default",
          state: "Active",
          created_at: clock.now(),
          updated_at: clock.now(),
          deleted_at: null,
        })
        .returning("seq")
        .executeTakeFirstOrThrow();
      const seq = sql.lit(Number(row.seq));
      subs.push({ seq: Number(row.seq), id, displayName: `Sub ${s}` });
      await sql`
        insert into usage_instances (subscription_seq, instance_hash, resource_uri, location, tags, additional_info)
        select ${seq}, 'h' || n.x,
          ${`/subscriptions/${id}/resourceGroups/rg`} || (n.x % 7) || '/providers/Microsoft.Compute/virtualMachines/vm' || n.x,
          'local', '{"env":"prod","n":"' || n.x || '"}', null
        from ${series(perSub)} n`.execute(db);
      await sql`
        insert into usage_daily (subscription_seq, usage_day, meter_seq, instance_seq, reported_day, q_units, q_frac, records)
        select i.subscription_seq, ${sql.lit(NOV)} + cast(d.x as bigint) * ${sql.lit(D)}, m.seq, i.seq,
          ${sql.lit(NOV)} + cast(d.x as bigint) * ${sql.lit(D)}, 1 + i.seq % 5, (i.seq * 7919 + d.x) % 10000000000, 1
        from usage_instances i cross join ${series(DAYS)} d
          cross join (select seq from meters where id in (${sql.join(METERS)})) m
        where i.subscription_seq = ${seq}`.execute(db);
    }
    await sql`insert into usage_reported_bounds (reported_hour, min_usage_hour, max_usage_hour)
      values (${sql.lit(NOV)}, ${sql.lit(NOV)}, ${sql.lit(NOV + (DAYS - 1) * D)})`.execute(db);
    if (pg) await sql`analyze`.execute(db);
    const rows = subs.length * perSub * DAYS * METERS.length;
    opts.log(
      `    ${rows.toLocaleString("en")} daily rows written in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const source: BillingDocumentSource = {
      invoice: async () => {
        throw new Error("not in this bench");
      },
      periodDocument: async () => ({
        account: {
          id: "ba_bench",
          kind: "customer",
          displayName: "Bench",
          currency: "EUR",
          taxRate: null,
          issuerName: "Bench",
          address: null,
          directoryId: null,
          providerId: null,
          createdAt: new Date(0).toISOString(),
        },
        document: {
          id: "inv_bench",
          billingAccountId: "ba_bench",
          number: null,
          issuerName: "Bench",
          period: "2026-11",
          periodStart: new Date(NOV).toISOString(),
          periodEnd: new Date(NOV + DAYS * D).toISOString(),
          status: "draft",
          currency: "EUR",
          subtotal: "0.00",
          taxRate: null,
          tax: "0.00",
          total: "0.00",
          createdAt: new Date(0).toISOString(),
          finalizedAt: null,
          complete: true,
          lines: [],
        },
        chargesVisible: true,
        subscriptions: subs,
        reportedFrom: NOV,
        reportedTo: NOV + DAYS * D,
      }),
    };
    const app = await buildApp(svc);
    registerBillingDownloads(app, svc, source);
    await app.listen({ port: 0, host: "127.0.0.1" });
    const token = await svc.tokens.sign({ subject: svc.system.operatorPrincipalId, ttlMs: 3_600_000 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/billing-accounts/ba_bench/usage-download?period=2026-11&format=v2`;

    // The client is curl in its own process, as a real one would be: the figures are the server's.
    globalThis.gc?.();
    const rssBefore = process.memoryUsage.rss();
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 50);
    const t0 = performance.now();
    const counted = await new Promise<string>((resolve, reject) => {
      execFile(
        "sh",
        ["-c", `curl -sS --fail -H "authorization: Bearer ${token}" '${url}' | wc -lc`],
        { maxBuffer: 1 << 20 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
    });
    const sec = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage.rss());
    await app.close();
    const [newlines, bytes] = counted.trim().split(/\s+/).map(Number) as [number, number];
    const dailyRows = newlines - 7; // 2 titles, 2 headers, the blank line, 2 statement rows
    if (dailyRows !== rows) throw new Error(`download had ${dailyRows} daily rows, expected ${rows}`);

    // Raw: the same rows in the same order through the driver, counted.
    const raw0 = performance.now();
    let rawRows = 0;
    for (const s of subs) {
      const q =
        sql`select subscription_seq, usage_day, meter_seq, instance_seq, q_units, q_frac from usage_daily
        where subscription_seq = ${s.seq} order by usage_day, meter_seq, instance_seq`.compile(db);
      if (svc.store.sqlite) {
        for (const _ of svc.store.sqlite
          .prepare(q.sql)
          .raw(true)
          .iterate(...(q.parameters as unknown[])))
          rawRows++;
      } else {
        rawRows += (
          await svc.store.pool!.query({ text: q.sql, values: q.parameters as unknown[], rowMode: "array" })
        ).rowCount!;
      }
    }
    const rawSec = (performance.now() - raw0) / 1000;

    const tally = Math.round(rows / sec);
    const rawRate = Math.round(rawRows / rawSec);
    return {
      database: opts.database,
      rows,
      bytes,
      rawRowsPerSec: rawRate,
      tallyRowsPerSec: tally,
      ratio: Math.round((tally / rawRate) * 100) / 100,
      peakRssMb: Math.round(peak / 1048576),
      rssBeforeMb: Math.round(rssBefore / 1048576),
    };
  } finally {
    await svc.close();
    if (schema) {
      const s = await openStore({ url: opts.postgresUrl! });
      await sql`drop schema if exists ${sql.raw(schema)} cascade`.execute(s.db);
      await s.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
