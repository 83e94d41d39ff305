import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatQuantity, parseQuantity } from "../../src/domain/quantity.js";
import { openStore } from "../../src/storage/database.js";
import { readUsageClock } from "../../src/usage/clock.js";
import { rollUp, seal } from "../../src/usage/rollup.js";
import { DIALECTS, openTestApp, POSTGRES_URL, type TestApp } from "../helpers.js";
import {
  BLOB_CAPACITY,
  H,
  ingest,
  makeWorld,
  record,
  STATIC_IP,
  setClock,
  T0,
  usage,
  usageAll,
  VM_BASE,
  VM_WINDOWS,
  type World,
} from "../usage-helpers.js";

const iso = (t: number) => new Date(t).toISOString();
const D = 24 * H;

/** A small deterministic generator (mulberry32), so failures reproduce. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each(DIALECTS)("reported time, closed windows and the usage query on %s", (dialect) => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await openTestApp(dialect);
    w = await makeWorld(t);
  });
  afterAll(async () => t.cleanup());

  it("stamps reported time, refuses open windows, and keeps a closed window's answer final", async () => {
    setClock(t, T0 + 2 * D + 10 * H + 20 * 60_000); // day 2, 10:20
    const day = T0 + 2 * D;
    await ingest(t, w.apiKey, [record({ id: "cw-1", sub: w.subA, quantity: 4, start: day + 9 * H })]);
    const stored = await t.svc.store.db
      .selectFrom("usage_records")
      .select("reported_at")
      .where("record_id", "=", "cw-1")
      .executeTakeFirstOrThrow();
    expect(Number(stored.reported_at)).toBe(day + 10 * H + 20 * 60_000);

    const open = await usage(t, { from: iso(day + 10 * H), to: iso(day + 11 * H) });
    expect(open.statusCode).toBe(400);
    expect(open.json().error.code).toBe("WindowNotClosed");

    setClock(t, day + 11 * H + 5_000); // within the seal delay: still open
    expect((await usage(t, { from: iso(day + 10 * H), to: iso(day + 11 * H) })).statusCode).toBe(400);

    setClock(t, day + 11 * H + 11_000);
    const first = await usageAll(t, { from: iso(day + 10 * H), to: iso(day + 11 * H) });
    expect(first.map((i) => [i.usageStartTime, i.quantity])).toEqual([[iso(day + 9 * H), "4"]]);

    // Late usage for 09:00 arrives at 11:30: it belongs to reported hour 11, never to the closed hour 10.
    setClock(t, day + 11 * H + 30 * 60_000);
    await ingest(t, w.apiKey, [record({ id: "cw-2", sub: w.subA, quantity: 1, start: day + 9 * H })]);
    setClock(t, day + 12 * H + 11_000);
    expect(await usageAll(t, { from: iso(day + 10 * H), to: iso(day + 11 * H) })).toEqual(first);
    const late = await usageAll(t, { from: iso(day + 11 * H), to: iso(day + 12 * H) });
    expect(late.map((i) => [i.usageStartTime, i.quantity])).toEqual([[iso(day + 9 * H), "1"]]);
    // Together the two consecutive windows count every record once.
    const both = await usageAll(t, { from: iso(day + 10 * H), to: iso(day + 12 * H) });
    expect(both.map((i) => i.quantity)).toEqual(["5"]);
  });

  it("seals an hour only after a batch that started in it has committed (commit across the boundary)", async () => {
    const day = T0 + 3 * D;
    setClock(t, day + 9 * H + 59 * 60_000 + 59_000); // 09:59:59
    // A second connection plays a writer whose transaction began in hour 9 and commits after 10:00.
    const other = await openStore(
      dialect === "postgres" ? { url: POSTGRES_URL!, schema: t.schema! } : { url: t.config.databaseUrl },
    );
    try {
      const sub = await t.svc.store.db
        .selectFrom("subscriptions")
        .select("seq")
        .where("id", "=", w.subA)
        .executeTakeFirstOrThrow();
      const meter = await t.svc.store.db
        .selectFrom("meters")
        .select("seq")
        .where("key", "=", VM_BASE.replaceAll("-", ""))
        .executeTakeFirstOrThrow();
      const src = await t.svc.store.db
        .selectFrom("sources")
        .select("seq")
        .where("id", "=", w.sourceId)
        .executeTakeFirstOrThrow();
      const stampedAt = day + 9 * H + 59 * 60_000 + 59_900;
      const insert = `insert into usage_records (source_seq, record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, reported_at, resource_uri, location)
        values (${src.seq}, 'boundary-1', ${sub.seq}, ${meter.seq}, 7, 0, ${day + 9 * H}, ${day + 10 * H}, ${stampedAt}, '/subscriptions/${w.subA}/x', 'local')`;
      // 10:00:11: the seal of hour 9 must wait for that transaction.
      setClock(t, day + 10 * H + 11_000);
      if (dialect === "postgres") {
        const c = await other.pool!.connect();
        await c.query("begin");
        await c.query("select pg_advisory_xact_lock_shared(7310101)");
        await c.query(insert);
        let sealed = false;
        const sealing = seal(t.svc, t.clock.now()).then(() => {
          sealed = true;
        });
        await new Promise((r) => setTimeout(r, 300));
        expect(sealed).toBe(false);
        await c.query("commit");
        c.release();
        await sealing;
      } else {
        // better-sqlite3 waits synchronously on the busy timeout, so the other writer is another process.
        const child = spawn(
          process.execPath,
          [
            "-e",
            `const D = require("better-sqlite3"); const db = new D(process.argv[1]); db.pragma("busy_timeout = 5000");
             db.exec("begin immediate"); db.exec(process.argv[2]); process.stdout.write("locked\\n");
             setTimeout(() => { db.exec("commit"); db.close(); }, 600);`,
            t.config.databaseUrl,
            insert,
          ],
          { cwd: process.cwd(), stdio: ["ignore", "pipe", "inherit"] },
        );
        await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
        const started = Date.now();
        await seal(t.svc, t.clock.now());
        expect(Date.now() - started).toBeGreaterThan(300);
        await new Promise((r) => child.once("exit", r));
      }
      await rollUp(t.svc);
      const items = await usageAll(t, {
        from: iso(day + 9 * H),
        to: iso(day + 10 * H),
        subscriptionId: w.subA,
      });
      expect(items.map((i) => [i.usageStartTime, i.quantity])).toEqual([[iso(day + 9 * H), "7"]]);
    } finally {
      await other.close();
    }
  });

  it("never stamps a record before the sealed watermark, even with a clock running behind", async () => {
    const day = T0 + 4 * D;
    setClock(t, day + 6 * H + 11_000);
    await seal(t.svc, t.clock.now());
    setClock(t, day + 5 * H + 50 * 60_000); // this node's clock is 20 minutes slow
    await ingest(t, w.apiKey, [record({ id: "slow-1", sub: w.subB, quantity: 1, start: day + 5 * H })]);
    const r = await t.svc.store.db
      .selectFrom("usage_records")
      .select("reported_at")
      .where("record_id", "=", "slow-1")
      .executeTakeFirstOrThrow();
    expect(Number(r.reported_at)).toBe(day + 6 * H);
  });

  it("matches an independent computation to the last digit, hourly and daily, on reported and usage time", async () => {
    const base = T0 + 6 * D;
    const rand = rng(42);
    const subs = [w.subA, w.subB, w.subC];
    const meters = [VM_BASE, VM_WINDOWS, STATIC_IP, BLOB_CAPACITY];
    type Rec = {
      id: string;
      sub: string;
      meter: string;
      vm: string;
      q: string;
      start: number;
      reported: number;
    };
    const recs: Rec[] = [];
    // 48 reported hours; each hour's batch carries usage of the previous hour and some late usage.
    for (let h = 1; h <= 48; h++) {
      const batch: Rec[] = [];
      for (let k = 0; k < 25; k++) {
        const late = rand() < 0.15 ? 1 + Math.floor(rand() * 20) : 1;
        const digits = `${Math.floor(rand() * 1000)}.${String(Math.floor(rand() * 1e10)).padStart(10, "0")}`;
        batch.push({
          id: `ind-${h}-${k}`,
          sub: subs[Math.floor(rand() * subs.length)]!,
          meter: meters[Math.floor(rand() * meters.length)]!,
          vm: `vm${Math.floor(rand() * 4)}`,
          q: digits,
          start: base + (h - late) * H,
          reported: base + h * H + 10 * 60_000,
        });
      }
      setClock(t, base + h * H + 10 * 60_000);
      const body = batch.map((r) =>
        record({ id: r.id, sub: r.sub, meter: r.meter, vm: r.vm, quantity: r.q, start: r.start }),
      );
      const res = await ingest(t, w.apiKey, body);
      expect(res.json()).toEqual({ inserted: 25, duplicates: 0 });
      // Retries of the previous batch must not change anything.
      if (h % 7 === 0)
        expect((await ingest(t, w.apiKey, body)).json()).toEqual({ inserted: 0, duplicates: 25 });
      recs.push(...batch);
    }
    setClock(t, base + 49 * H + 11_000);
    const expectSame = async (
      params: Record<string, string>,
      keyOf: (r: Rec) => string,
      filter: (r: Rec) => boolean,
    ) => {
      const want = new Map<string, bigint>();
      for (const r of recs.filter(filter))
        want.set(keyOf(r), (want.get(keyOf(r)) ?? 0n) + (parseQuantity(r.q) as bigint));
      const got = await usageAll(t, params);
      const gotMap = new Map(
        got.map((i) => [
          `${i.subscriptionId}|${i.meterId}|${i.instance?.resourceUri.split("/").pop() ?? ""}|${i.usageStartTime}`,
          i.quantity,
        ]),
      );
      expect(gotMap.size).toBe(got.length); // one item per group
      expect(new Map([...want].map(([k, v]) => [k, formatQuantity(v)]))).toEqual(gotMap);
    };
    const hourKey = (r: Rec) => `${r.sub}|${r.meter}|${r.vm}|${iso(r.start)}`;
    const dayOf = (t0: number) => t0 - (t0 % D);
    const dayKey = (r: Rec) => `${r.sub}|${r.meter}|${r.vm}|${iso(dayOf(r.start))}`;
    const reportedIn = (a: number, b: number) => (r: Rec) => r.reported >= a && r.reported < b;
    // Reported windows: one hour, a day, and all of it; paged small to cross page boundaries.
    await expectSame(
      { from: iso(base + 5 * H), to: iso(base + 6 * H), limit: "7" },
      hourKey,
      reportedIn(base + 5 * H, base + 6 * H),
    );
    await expectSame(
      { from: iso(base), to: iso(base + D), limit: "13" },
      hourKey,
      reportedIn(base, base + D),
    );
    await expectSame(
      { from: iso(base), to: iso(base + 2 * D), granularity: "daily", limit: "9" },
      dayKey,
      reportedIn(base, base + 2 * D),
    );
    await expectSame(
      { from: iso(base + D), to: iso(base + 2 * D), granularity: "daily" },
      dayKey,
      reportedIn(base + D, base + 2 * D),
    );
    // Usage windows: what happened in a day, whenever it was reported.
    const usedIn = (a: number, b: number) => (r: Rec) => r.start >= a && r.start < b;
    await expectSame(
      { from: iso(base), to: iso(base + D), timeBasis: "usage", limit: "50" },
      hourKey,
      usedIn(base, base + D),
    );
    await expectSame(
      { from: iso(base), to: iso(base + D), timeBasis: "usage", granularity: "daily" },
      dayKey,
      usedIn(base, base + D),
    );
    // Grouped by meter and by subscription, and filtered.
    const byMeter = await usageAll(t, {
      from: iso(base),
      to: iso(base + 2 * D),
      granularity: "daily",
      groupBy: "meter",
    });
    expect(byMeter.every((i) => i.instance === undefined)).toBe(true);
    const total = (items: { quantity: string }[]) =>
      formatQuantity(items.reduce((s, i) => s + (parseQuantity(i.quantity) as bigint), 0n));
    const all = recs.filter(reportedIn(base, base + 2 * D));
    expect(total(byMeter)).toBe(formatQuantity(all.reduce((s, r) => s + (parseQuantity(r.q) as bigint), 0n)));
    const bySub = await usageAll(t, {
      from: iso(base),
      to: iso(base + 2 * D),
      granularity: "daily",
      groupBy: "subscription",
    });
    expect(bySub.every((i) => i.meterId === null)).toBe(true);
    expect(total(bySub)).toBe(total(byMeter));
    const onlyB = await usageAll(t, {
      from: iso(base),
      to: iso(base + 2 * D),
      granularity: "daily",
      directoryId: w.dirB,
    });
    expect(new Set(onlyB.map((i) => i.subscriptionId))).toEqual(new Set([w.subB, w.subC]));
    const reseller = await usageAll(t, {
      from: iso(base),
      to: iso(base + 2 * D),
      granularity: "daily",
      providerId: "reseller",
    });
    expect(new Set(reseller.map((i) => i.subscriptionId))).toEqual(new Set([w.subC]));
    const meterOnly = await usageAll(t, {
      from: iso(base),
      to: iso(base + 2 * D),
      granularity: "daily",
      meterId: STATIC_IP.toLowerCase(),
    });
    expect(new Set(meterOnly.map((i) => i.meterId))).toEqual(new Set([STATIC_IP]));
  });

  it("validates windows and cursors", async () => {
    const day = T0 + 6 * D;
    const bad = async (p: Record<string, string>, field: string) => {
      const r = await usage(t, p);
      expect(r.statusCode).toBe(400);
      expect(JSON.stringify(r.json().error)).toContain(field);
    };
    await bad({ from: iso(day + H), to: iso(day) }, "to");
    await bad({ from: iso(day + 30 * 60_000), to: iso(day + H) }, "from");
    await bad({ from: iso(day), to: iso(day + H), granularity: "daily" }, "to");
    await bad({ from: "2026-11-29", to: iso(day + H) }, "from");
    await bad({ from: iso(day), to: iso(day + H), meterId: "nope" }, "meterId");
    const page = (await usage(t, { from: iso(day), to: iso(day + D), limit: "2" })).json();
    expect(page.nextCursor).toEqual(expect.any(String));
    const foreign = await usage(t, {
      from: iso(day),
      to: iso(day + D),
      limit: "2",
      granularity: "daily",
      cursor: page.nextCursor,
    });
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().error.code).toBe("InvalidCursor");
  });

  it("records the earliest answered reported time and advances the watermarks", async () => {
    const c = await readUsageClock(t.svc.store.db);
    expect(c.answeredFrom).toBe(T0 + 2 * D + 10 * H);
    expect(c.closedUntil).toBeGreaterThan(c.answeredFrom!);
    expect(c.firstLiveAt).not.toBeNull();
  });
});
