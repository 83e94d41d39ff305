import { get } from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable } from "node:stream";
import { setTimeout } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parse } from "csv-parse";
import { Decimal } from "decimal.js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dailyUsageRows } from "../../src/billing/downloads/usage-rows.js";
import { ManualClock } from "../../src/clock.js";
import { type DownloadsApp, makeInvoice, makeLine, openDownloadsApp } from "../billing-download-helpers.js";
import { DIALECTS } from "../helpers.js";
import { BLOB_CAPACITY, makeWorld, VM_BASE, type World } from "../usage-helpers.js";

const D = 86_400_000;
const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);
const INSTANCES = 3334;
const DAYS = 30;
const ROWS = INSTANCES * DAYS * 2;

/**
 * A large store, written straight into the aggregate tables: 3,334 instances × 30 days × 2 meters
 * = 200,040 daily rows of one subscription.
 */
async function fillStore(t: DownloadsApp, subscriptionId: string) {
  const db = t.svc.store.db;
  const pg = t.svc.store.dialect === "postgres";
  const sub = await db
    .selectFrom("subscriptions")
    .select("seq")
    .where("id", "=", subscriptionId)
    .executeTakeFirstOrThrow();
  const seq = sql.lit(Number(sub.seq));
  const series = (n: number) =>
    pg
      ? sql`(select g as x from generate_series(0, ${sql.lit(n - 1)}) g)`
      : sql`(with recursive s(x) as (select 0 union all select x + 1 from s where x < ${sql.lit(n - 1)}) select x from s)`;
  await sql`
    insert into usage_instances (subscription_seq, instance_hash, resource_uri, location, tags, additional_info)
    select ${seq}, 'h' || n.x,
      ${`/subscriptions/${subscriptionId}/resourceGroups/rg`} || (n.x % 7) || '/providers/Microsoft.Compute/virtualMachines/vm' || n.x,
      'local', '{"n":"' || n.x || '"}', null
    from ${series(INSTANCES)} n`.execute(db);
  await sql`
    insert into usage_daily (subscription_seq, usage_day, meter_seq, instance_seq, reported_day, q_units, q_frac, records)
    select i.subscription_seq, ${sql.lit(NOV)} + cast(d.x as bigint) * ${sql.lit(D)}, m.seq, i.seq, ${sql.lit(NOV)} + cast(d.x as bigint) * ${sql.lit(D)},
      1 + i.seq % 5, (i.seq * 7919 + d.x) % 10000000000, 1
    from usage_instances i cross join ${series(DAYS)} d
      cross join (select seq from meters where id in (${VM_BASE}, ${BLOB_CAPACITY})) m
    where i.subscription_seq = ${seq}`.execute(db);
  await sql`
    insert into usage_reported_bounds (reported_hour, min_usage_hour, max_usage_hour)
    values (${sql.lit(NOV)}, ${sql.lit(NOV)}, ${sql.lit(NOV + (DAYS - 1) * D)})`.execute(db);
}

describe.each(DIALECTS)("billing downloads of a large store on %s", (dialect) => {
  let t: DownloadsApp;
  let w: World;

  beforeAll(async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2));
    t = await openDownloadsApp(dialect, clock);
    w = await makeWorld(t);
    await fillStore(t, w.subA);
    const line = (meterId: string, amount: string) =>
      makeLine({
        kind: "usage",
        description: "usage",
        subscriptionId: w.subA,
        subscriptionName: "A",
        meterId,
        usagePeriod: "2026-11",
        tier: "0",
        amount,
      });
    const invoice = makeInvoice({
      id: "inv_big",
      period: "2026-11",
      periodStart: new Date(NOV).toISOString(),
      periodEnd: new Date(DEC).toISOString(),
      lines: [line(VM_BASE, "123456.78"), line(BLOB_CAPACITY, "0.99")],
    });
    t.source.invoices.set(invoice.id, { doc: invoice, reportedFrom: NOV, reportedTo: DEC });
    t.source.subscriptionIds = [w.subA];
  }, 300_000);
  afterAll(async () => t?.cleanup());

  const download = async (format: string) => {
    const r = await t.app.inject({
      method: "GET",
      url: `/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-11&format=${format}`,
      headers: t.op,
      payloadAsStream: true,
    });
    expect(r.statusCode).toBe(200);
    return r.stream() as Readable;
  };

  it("streams 200k daily rows without holding the file in memory", async () => {
    // Live heap, not garbage: collect before each sample (the usual way to reach gc() without --expose-gc).
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    let bytes = 0;
    let newlines = 0;
    let chunks = 0;
    for await (const chunk of await download("v2")) {
      const b = chunk as Buffer;
      bytes += b.length;
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) newlines++;
      if (++chunks % 64 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed);
      }
    }
    // Title, header, 2 statement rows, blank line, title, header, then the daily rows.
    expect(newlines).toBe(7 + ROWS);
    // A loose sanity bound, not a measurement: the file is far larger than what the heap grew by.
    expect(bytes).toBeGreaterThan(40 * 1024 * 1024);
    expect(peak - before).toBeLessThan(bytes / 4);
  }, 300_000);

  it("prices 200k rows so that they add up exactly to the invoice's lines", async () => {
    const sums = new Map<string, Decimal>();
    let rows = 0;
    const parser = (await download("charges")).pipe(parse({ bom: true, columns: true }));
    for await (const row of parser as AsyncIterable<Record<string, string>>) {
      rows++;
      sums.set(
        row.MeterId!.toUpperCase(),
        (sums.get(row.MeterId!.toUpperCase()) ?? new Decimal(0)).plus(row.Cost!),
      );
    }
    expect(rows).toBe(ROWS);
    expect(sums.get(VM_BASE)!.toFixed(2)).toBe("123456.78");
    expect(sums.get(BLOB_CAPACITY)!.toFixed(2)).toBe("0.99");
  }, 300_000);

  it("lets go of the database when the client goes away mid-file", async () => {
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = t.app.server.address() as AddressInfo;
    // A client that reads the first bytes and hangs up.
    await new Promise<void>((resolve, reject) => {
      const req = get(
        `http://127.0.0.1:${port}/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-11`,
        { headers: t.op },
        (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on("error", () => {});
      req.setTimeout(30_000, () => reject(new Error("no data")));
    });
    // The read ends and its connection goes back: every pooled connection idle again, and the
    // next download (and any other query) goes through.
    const pool = t.svc.store.pool;
    for (let i = 0; i < 100 && pool && pool.idleCount !== pool.totalCount; i++) await setTimeout(50);
    if (pool) expect(pool.idleCount).toBe(pool.totalCount);
    const again = await t.app.inject({
      method: "GET",
      url: "/api/v1/billing-accounts/ba_contoso/invoices/inv_big.csv",
      headers: t.op,
    });
    expect(again.statusCode).toBe(200);
    expect(await t.svc.store.db.selectFrom("meters").select("id").limit(1).execute()).toHaveLength(1);
  }, 60_000);

  it("keeps sums beyond 2^53 exact", async () => {
    const db = t.svc.store.db;
    const sub = await db
      .selectFrom("subscriptions")
      .select("seq")
      .where("id", "=", w.subB)
      .executeTakeFirstOrThrow();
    const seq = sql.lit(Number(sub.seq));
    const meter = await db
      .selectFrom("meters")
      .select("seq")
      .where("id", "=", VM_BASE)
      .executeTakeFirstOrThrow();
    await sql`insert into usage_instances (subscription_seq, instance_hash, resource_uri, location, tags, additional_info)
      values (${seq}, 'big', ${`/subscriptions/${w.subB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/big`}, null, null, null)`.execute(
      db,
    );
    const inst = await db
      .selectFrom("usage_instances")
      .select("seq")
      .where("instance_hash", "=", "big")
      .executeTakeFirstOrThrow();
    for (const [reported, frac] of [
      [NOV + 2 * D, 5],
      [NOV + 3 * D, 7],
    ] as const)
      await sql`insert into usage_daily (subscription_seq, usage_day, meter_seq, instance_seq, reported_day, q_units, q_frac, records)
        values (${seq}, ${sql.lit(NOV + 2 * D)}, ${sql.lit(Number(meter.seq))}, ${sql.lit(Number(inst.seq))}, ${sql.lit(reported)},
          ${sql.lit(9007199254740993n)}, ${sql.lit(frac)}, 1)`.execute(db);
    const rows: string[] = [];
    for await (const chunk of dailyUsageRows(t.svc.store, {
      subscriptions: [{ seq: Number(sub.seq), id: w.subB, displayName: "B" }],
      reportedFrom: NOV,
      reportedTo: DEC,
    }))
      for (const r of chunk) rows.push(`${r.usageDate} ${r.quantity} ${r.units}`);
    expect(rows).toEqual(["2026-11-03 18014398509481986.0000000012 180143985094819860000000012"]);
  });
});
