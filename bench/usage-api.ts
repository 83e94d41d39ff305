import { hash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { ManualClock } from "../src/clock.js";
import { loadConfig } from "../src/config.js";
import { buildApp } from "../src/http/app.js";
import type { App } from "../src/http/types.js";
import { createLogger, openServices, type Services } from "../src/services.js";
import { openStore } from "../src/storage/database.js";
import { BENCH_METERS, type BenchHourly, rng, subscriptionMonth } from "./data.js";

export interface PageFigures {
  name: string;
  pages: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface UsageApiFigures {
  database: "sqlite" | "postgres";
  subscriptions: number;
  hourlyRows: number;
  dailyRows: number;
  buildSeconds: number | null;
  /** The same-run baseline: one index-ordered read of 1,000 hourly rows at a random key. */
  rawPage: PageFigures;
  pages: PageFigures[];
  /** Following nextLink through a whole month of every subscription, hourly, as the operator. */
  walk: {
    pages: number;
    aggregates: number;
    seconds: number;
    aggregatesPerSec: number;
    quantityTotal: string;
  };
}

const HOUR = 3_600_000;
const DAY = 86_400_000;
const MONTH = Date.UTC(2026, 9, 1); // October 2026: 744 hours
const MONTH_HOURS = 31 * 24;
const NOW = MONTH + MONTH_HOURS * HOUR + 4 * DAY; // every late report is in, and closed
const MARKER = "bench_usage_store";

const subscriptionGuid = (i: number) =>
  `${(0x10000000 + i).toString(16)}-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
const instanceHash = (i: {
  resourceUri: string;
  location: string;
  tags: string | null;
  additionalInfo: string | null;
}) =>
  hash(
    "sha256",
    `${i.resourceUri}\u0001${i.location}\u0001${i.tags ?? ""}\u0001${i.additionalInfo ?? ""}`,
    "hex",
  );

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const round = (ms: number) => Math.round(ms * 100) / 100;

function figures(name: string, samples: number[]): PageFigures {
  const s = [...samples].sort((a, b) => a - b);
  return {
    name,
    pages: s.length,
    p50Ms: round(percentile(s, 0.5)),
    p99Ms: round(percentile(s, 0.99)),
    maxMs: round(s.at(-1)!),
  };
}

/**
 * Writes a month of hourly aggregates for `subscriptions` tenants of the root provider straight
 * through the storage layer (subscriptions, usage_instances, usage_hourly, usage_daily,
 * usage_reported_bounds, usage_clock), in key order and in large transactions: what ingest and
 * the rollup would have produced, without spending an hour producing it.
 */
async function buildStore(svc: Services, subscriptions: number, log: (s: string) => void) {
  const db = svc.store.db;
  const now = NOW;
  const dir = "0ffe1ce0-0000-4000-8000-000000000001";
  await db
    .insertInto("directories")
    .values({ id: dir, display_name: "bench", created_at: now, updated_at: now })
    .execute();
  for (let i = 0; i < subscriptions; i += 1000) {
    await db
      .insertInto("subscriptions")
      .values(
        Array.from({ length: Math.min(1000, subscriptions - i) }, (_, k) => ({
          id: subscriptionGuid(i + k),
          display_name: `bench ${i + k}`,
          directory_id: dir,
          provider_id: "operator",
          offer_id: "default",
          state: "Active" as const,
          created_at: now,
          updated_at: now,
          deleted_at: null,
        })),
      )
      .execute();
  }
  const subSeq = new Map(
    (await db.selectFrom("subscriptions").select(["id", "seq"]).execute()).map((r) => [r.id, Number(r.seq)]),
  );
  const meterSeq = new Map(
    (await db.selectFrom("meters").select(["key", "seq"]).execute()).map((m) => [m.key, Number(m.seq)]),
  );
  const meters = BENCH_METERS.map((m) => meterSeq.get(m.replaceAll("-", "").toUpperCase())!);

  const rand = rng(2026);
  const bounds = new Map<number, [number, number]>();
  let hourlyRows = 0;
  let dailyRows = 0;
  let nextInstance = 1;
  const sqlite = svc.store.sqlite;
  if (sqlite) sqlite.pragma("synchronous = OFF");
  const insertSqlite = sqlite && {
    inst: sqlite.prepare(
      "insert into usage_instances (seq, subscription_seq, instance_hash, resource_uri, location, tags, additional_info) values (?,?,?,?,?,?,?)",
    ),
    hourly: sqlite.prepare(
      "insert into usage_hourly (subscription_seq, usage_hour, meter_seq, instance_seq, reported_hour, q_units, q_frac, records) values (?,?,?,?,?,?,?,1)",
    ),
    daily: sqlite.prepare(
      "insert into usage_daily (subscription_seq, usage_day, meter_seq, instance_seq, reported_day, q_units, q_frac, records) values (?,?,?,?,?,?,?,?)",
    ),
  };
  const started = performance.now();
  const CHUNK = 250;
  for (let i = 0; i < subscriptions; i += CHUNK) {
    const inst: unknown[][] = [];
    const hourly: number[][] = [];
    const daily: number[][] = [];
    for (let k = i; k < Math.min(i + CHUNK, subscriptions); k++) {
      const id = subscriptionGuid(k);
      const seq = subSeq.get(id)!;
      const month = subscriptionMonth(rand, id, MONTH, MONTH_HOURS);
      const base = nextInstance;
      nextInstance += month.instances.length;
      for (const [j, x] of month.instances.entries())
        inst.push([base + j, seq, instanceHash(x), x.resourceUri, x.location, x.tags, x.additionalInfo]);
      const key = (r: BenchHourly) => [r.hour, meters[r.meter]!, base + r.instance] as const;
      const sorted = month.rows
        .map((r) => ({ r, k: key(r) }))
        .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.k[2] - b.k[2]);
      const days = new Map<string, number[]>();
      for (const {
        r,
        k: [hour, meter, instance],
      } of sorted) {
        hourly.push([seq, hour, meter, instance, r.reported, r.units, r.frac]);
        const b = bounds.get(r.reported);
        if (!b) bounds.set(r.reported, [hour, hour]);
        else {
          b[0] = Math.min(b[0], hour);
          b[1] = Math.max(b[1], hour);
        }
        const day = hour - (hour % DAY);
        const rday = r.reported - (r.reported % DAY);
        const dk = `${day}|${meter}|${instance}|${rday}`;
        const d = days.get(dk);
        if (d) {
          d[5]! += r.units;
          d[6]! += r.frac;
          d[7]!++;
        } else days.set(dk, [seq, day, meter, instance, rday, r.units, r.frac, 1]);
      }
      const dayRows = [...days.values()].sort(
        (a, b) => a[1]! - b[1]! || a[2]! - b[2]! || a[3]! - b[3]! || a[4]! - b[4]!,
      );
      for (const d of dayRows) {
        d[5]! += Math.floor(d[6]! / 1e10);
        d[6]! %= 1e10;
        daily.push(d);
      }
    }
    hourlyRows += hourly.length;
    dailyRows += daily.length;
    if (sqlite && insertSqlite) {
      sqlite.transaction(() => {
        for (const r of inst) insertSqlite.inst.run(...r);
        for (const r of hourly) insertSqlite.hourly.run(...r);
        for (const r of daily) insertSqlite.daily.run(...r);
      })();
    } else {
      const col = (rows: unknown[][], c: number) => rows.map((r) => r[c]);
      await db.transaction().execute(async (trx) => {
        await sql`insert into usage_instances (seq, subscription_seq, instance_hash, resource_uri, location, tags, additional_info)
          select * from unnest(${col(inst, 0)}::bigint[], ${col(inst, 1)}::bigint[], ${col(inst, 2)}::text[], ${col(inst, 3)}::text[],
            ${col(inst, 4)}::text[], ${col(inst, 5)}::text[], ${col(inst, 6)}::text[])`.execute(trx);
        for (let j = 0; j < hourly.length; j += 50_000) {
          const part = hourly.slice(j, j + 50_000);
          await sql`insert into usage_hourly (subscription_seq, usage_hour, meter_seq, instance_seq, reported_hour, q_units, q_frac, records)
            select a, b, c, d, e, f, g, 1 from unnest(${col(part, 0)}::bigint[], ${col(part, 1)}::bigint[], ${col(part, 2)}::bigint[],
              ${col(part, 3)}::bigint[], ${col(part, 4)}::bigint[], ${col(part, 5)}::bigint[], ${col(part, 6)}::bigint[]) as t(a, b, c, d, e, f, g)`.execute(
            trx,
          );
        }
        await sql`insert into usage_daily (subscription_seq, usage_day, meter_seq, instance_seq, reported_day, q_units, q_frac, records)
          select * from unnest(${col(daily, 0)}::bigint[], ${col(daily, 1)}::bigint[], ${col(daily, 2)}::bigint[], ${col(daily, 3)}::bigint[],
            ${col(daily, 4)}::bigint[], ${col(daily, 5)}::bigint[], ${col(daily, 6)}::bigint[], ${col(daily, 7)}::bigint[])`.execute(
          trx,
        );
      });
    }
    if ((i / CHUNK) % 8 === 0) log(`  … ${hourlyRows.toLocaleString("en")} hourly rows`);
  }
  if (sqlite) sqlite.pragma("synchronous = FULL");
  const b = [...bounds].sort((x, y) => x[0] - y[0]);
  for (let i = 0; i < b.length; i += 500) {
    await db
      .insertInto("usage_reported_bounds")
      .values(
        b
          .slice(i, i + 500)
          .map(([h, [lo, hi]]) => ({ reported_hour: h, min_usage_hour: lo, max_usage_hour: hi })),
      )
      .execute();
  }
  const closed = NOW - (NOW % HOUR) - HOUR;
  await sql`update usage_clock set value = ${closed} where name in ('sealed_until', 'rolled_up_until')`.execute(
    db,
  );
  if (svc.store.dialect === "postgres") {
    await sql`select setval(pg_get_serial_sequence('usage_instances', 'seq'), ${nextInstance})`.execute(db);
    await sql`analyze`.execute(db);
  }
  await db
    .insertInto("meta")
    .values({ key: MARKER, value: JSON.stringify({ subscriptions, hourlyRows, dailyRows }) })
    .execute();
  return { hourlyRows, dailyRows, seconds: (performance.now() - started) / 1000 };
}

/** One page through `inject`; `ms` is the time to the complete answer (reading it afterwards is not counted). */
async function page(
  app: App,
  auth: string,
  url: string,
): Promise<{ nextLink?: string; count: number; body: string; ms: number }> {
  const t0 = performance.now();
  const r = await app.inject({ method: "GET", url, headers: { authorization: auth } });
  const ms = performance.now() - t0;
  if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body.slice(0, 300)}`);
  const m = /,"nextLink":"([^"]+)"\}$/.exec(r.body.slice(-2000));
  const count = r.body === '{"value":[]}' ? 0 : r.body.split('"type":').length - 1;
  return { ...(m ? { nextLink: m[1]! } : {}), count, body: r.body, ms };
}

const pathOf = (link: string) => {
  const u = new URL(link);
  return u.pathname + u.search;
};

/**
 * The usage API over a store of ~10M hourly aggregates (10k subscriptions, a month): one
 * 1,000-aggregate page at many offsets (p50, p99), for the operator and tenants, Daily and Hourly;
 * the raw indexed read of a page as the same run's baseline; and a full walk of the month for all
 * subscriptions through nextLink. Requests go through `inject`: routing, authentication,
 * authorization, the query, and the JSON text, without the kernel's TCP round trip.
 */
export async function benchUsageApi(opts: {
  database: "sqlite" | "postgres";
  postgresUrl?: string;
  subscriptions: number;
  /** Keep the built store here (SQLite: a data dir; PostgreSQL: a schema) and reuse it next time. */
  keep?: string;
  log: (s: string) => void;
}): Promise<UsageApiFigures> {
  const dataDir =
    opts.keep && opts.database === "sqlite" ? opts.keep : mkdtempSync(join(tmpdir(), "tally-bench-usage-"));
  mkdirSync(dataDir, { recursive: true });
  const schema =
    opts.database === "postgres" ? (opts.keep ?? `tally_bench_usage_${Date.now().toString(36)}`) : undefined;
  const config = loadConfig({
    TALLY_DATA_DIR: dataDir,
    TALLY_LOG_LEVEL: "warn",
    ...(opts.database === "postgres" ? { TALLY_DATABASE_URL: opts.postgresUrl! } : {}),
  });
  const reuse =
    opts.keep !== undefined && (opts.database === "postgres" || existsSync(join(dataDir, "tally.db")));
  const svc = await openServices(config, {
    migrate: true,
    clock: new ManualClock(NOW),
    logger: createLogger({ logLevel: "warn" }),
    ...(schema ? { schema } : {}),
  });
  try {
    const marker = reuse
      ? await svc.store.db.selectFrom("meta").select("value").where("key", "=", MARKER).executeTakeFirst()
      : undefined;
    let built: { hourlyRows: number; dailyRows: number; seconds: number | null };
    if (marker && JSON.parse(marker.value).subscriptions === opts.subscriptions) {
      built = { ...JSON.parse(marker.value), seconds: null };
      opts.log(`  reusing the store in ${schema ?? dataDir}`);
    } else {
      opts.log(
        `  building ${opts.subscriptions.toLocaleString("en")} subscriptions × a month of hourly aggregates…`,
      );
      built = await buildStore(svc, opts.subscriptions, opts.log);
      opts.log(
        `  built ${built.hourlyRows.toLocaleString("en")} hourly and ${built.dailyRows.toLocaleString("en")} daily rows in ${built.seconds!.toFixed(0)} s`,
      );
    }

    const app = await buildApp(svc);
    await app.ready();
    const auth = `Bearer ${await svc.tokens.sign({ subject: svc.system.operatorPrincipalId, ttlMs: DAY })}`;
    const dps = svc.system.defaultProviderSubscriptionId;
    const window = (g: string) =>
      `reportedStartTime=${new Date(MONTH).toISOString()}&reportedEndTime=${new Date(MONTH + MONTH_HOURS * HOUR).toISOString()}&aggregationGranularity=${g}&api-version=2015-06-01-preview`;
    const operatorUrl = (g: string) =>
      `/subscriptions/${dps}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?${window(g)}`;
    const tenantUrl = (sub: string, g: string) =>
      `/subscriptions/${sub}/providers/Microsoft.Commerce/UsageAggregates?${window(g)}`;

    // Warm-up: JIT, caches, the token secret.
    for (let i = 0; i < 20; i++) await page(app, auth, tenantUrl(subscriptionGuid(i), "Hourly"));

    // The raw baseline: 1,000 rows in key order from a random key, on the same connection pool.
    const rand = rng(99);
    const raw: number[] = [];
    const subSeqs = (
      await svc.store.db.selectFrom("subscriptions").select("seq").orderBy("seq").execute()
    ).map((r) => Number(r.seq));
    for (let i = 0; i < 500; i++) {
      const s = subSeqs[Math.floor(rand() * subSeqs.length)]!;
      const t0 = performance.now();
      await sql`select subscription_seq, usage_hour, meter_seq, instance_seq, reported_hour, q_units, q_frac from usage_hourly
            where (subscription_seq, usage_hour) >= (${s}, ${MONTH}) order by subscription_seq, usage_hour, meter_seq, instance_seq, reported_hour
            limit 1000`.execute(svc.store.db);
      const ms = performance.now() - t0;
      raw.push(ms);
    }
    const rawPage = figures("raw indexed read of 1,000 hourly rows", raw);
    opts.log(`  raw page read: p50 ${rawPage.p50Ms} ms, p99 ${rawPage.p99Ms} ms`);

    // The full walk: the operator's whole month, hourly, every subscription, page after page.
    opts.log("  walking the whole month, hourly, as the operator…");
    const walkTimes: number[] = [];
    const links: string[] = [];
    let aggregates = 0;
    let total = 0n;
    const walkStart = performance.now();
    for (let url: string | undefined = operatorUrl("Hourly"); url !== undefined; ) {
      const p = await page(app, auth, url);
      const ms = p.ms;
      walkTimes.push(ms);
      aggregates += p.count;
      for (const m of p.body.matchAll(/"quantity":([0-9.]+),/g)) {
        const [w, f = ""] = m[1]!.split(".");
        total += BigInt(w!) * 10_000_000_000n + BigInt(f.padEnd(10, "0"));
      }
      // pathOf makes a string of its own: a slice of the page would keep the whole ~1 MB page alive.
      if (p.nextLink) links.push(pathOf(p.nextLink));
      url = p.nextLink ? pathOf(p.nextLink) : undefined;
      if (walkTimes.length % 2000 === 0) opts.log(`  … ${walkTimes.length} pages`);
    }
    const walkSeconds = (performance.now() - walkStart) / 1000;
    const totalText = `${total / 10_000_000_000n}.${(total % 10_000_000_000n).toString().padStart(10, "0")}`;
    // The walk must have seen every aggregate of the window once: its total equals one SQL sum.
    const check = await sql<{ u: string; f: string; n: string }>`select cast(sum(q_units) as text) as u,
        cast(sum(q_frac) as text) as f, cast(count(*) as text) as n from (select sum(q_units) as q_units, sum(q_frac) as q_frac
        from usage_hourly where reported_hour >= ${MONTH} and reported_hour < ${MONTH + MONTH_HOURS * HOUR}
        group by subscription_seq, usage_hour, meter_seq, instance_seq) g`.execute(svc.store.db);
    const c = check.rows[0]!;
    if (BigInt(c.u) * 10_000_000_000n + BigInt(c.f) !== total || Number(c.n) !== aggregates)
      throw new Error(
        `the walk saw ${aggregates} aggregates totalling ${totalText}; the store holds ${c.n} (${c.u} + ${c.f}e-10)`,
      );

    const pages: PageFigures[] = [figures("operator, Hourly, every page of the month walk", walkTimes)];
    // Random offsets: links from the walk, in random order (the tokens are stateless).
    const sampled: number[] = [];
    for (let i = 0; i < Math.min(2000, links.length); i++) {
      const link = links[Math.floor(rand() * links.length)]!;
      sampled.push((await page(app, auth, link)).ms);
    }
    pages.push(figures("operator, Hourly, random offsets", sampled));
    const daily: number[] = [];
    for (let url: string | undefined = operatorUrl("Daily"); url !== undefined; ) {
      const p = await page(app, auth, url);
      const ms = p.ms;
      daily.push(ms);
      url = p.nextLink ? pathOf(p.nextLink) : undefined;
    }
    pages.push(figures("operator, Daily, every page of the month", daily));
    for (const g of ["Hourly", "Daily"]) {
      const times: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const sub = subscriptionGuid(Math.floor(rand() * opts.subscriptions));
        for (let url: string | undefined = tenantUrl(sub, g); url !== undefined; ) {
          const p = await page(app, auth, url);
          const ms = p.ms;
          times.push(ms);
          url = p.nextLink ? pathOf(p.nextLink) : undefined;
        }
      }
      pages.push(figures(`tenant, ${g}, every page of 1,000 random subscriptions' month`, times));
    }
    for (const p of pages)
      opts.log(`  ${p.name}: ${p.pages} pages, p50 ${p.p50Ms} ms, p99 ${p.p99Ms} ms, max ${p.maxMs} ms`);
    opts.log(
      `  full walk: ${aggregates.toLocaleString("en")} aggregates in ${walkTimes.length} pages, ${walkSeconds.toFixed(1)} s (${Math.round(aggregates / walkSeconds).toLocaleString("en")} aggregates/s)`,
    );
    await app.close();
    return {
      database: opts.database,
      subscriptions: opts.subscriptions,
      hourlyRows: built.hourlyRows,
      dailyRows: built.dailyRows,
      buildSeconds: built.seconds === null ? null : Math.round(built.seconds),
      rawPage,
      pages,
      walk: {
        pages: walkTimes.length,
        aggregates,
        seconds: Math.round(walkSeconds * 10) / 10,
        aggregatesPerSec: Math.round(aggregates / walkSeconds),
        quantityTotal: totalText,
      },
    };
  } finally {
    await svc.close();
    if (!opts.keep) {
      if (schema) {
        const s = await openStore({ url: opts.postgresUrl! });
        await sql`drop schema if exists ${sql.raw(schema)} cascade`.execute(s.db);
        await s.close();
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}
