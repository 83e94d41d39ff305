import { spawn } from "node:child_process";
import { hash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { loadConfig } from "../src/config.js";
import { createLogger, openServices, type Services } from "../src/services.js";
import { openStore } from "../src/storage/database.js";
import { BENCH_METERS, type BenchHourly, rng, subscriptionMonth } from "./data.js";

export interface PageFigures {
  name: string;
  pages: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The server process's CPU time per page (all its threads, GC included), mean over the phase: what a page costs, contention aside. */
  serverCpuMsPerPage?: number | null;
  /** The bench client's own CPU time per page (it shares the cores with the server and the database). */
  clientCpuMsPerPage?: number;
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
  /** 1-minute load average when the measurements started and ended, and the cores: other work on the machine shows in the wall-clock figures, not in the CPU ones. */
  load: { start: number; end: number; cores: number };
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
/** The month of usage: the one before last, so that it and its late reports are long closed on the server's clock. */
export function benchMonth(now = new Date()): { start: number; hours: number } {
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1);
  return { start, hours: (Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1) - start) / HOUR };
}
export const MARKER = "bench_usage_store";
const BIN = join(import.meta.dirname, "..", "..", "bin", "tally.js");

export const subscriptionGuid = (i: number) =>
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

/** Percentiles of wall-clock times (ms), one per request. */
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

/** The wall-clock time (ms) of one call. */
async function measure(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/**
 * Writes a month of hourly aggregates for `subscriptions` tenants of the root provider straight
 * through the storage layer (subscriptions, usage_instances, usage_hourly, usage_daily,
 * usage_reported_bounds, usage_clock), in key order and in large transactions: what ingest and
 * the rollup would have produced, without spending an hour producing it.
 */
export async function buildStore(
  svc: Services,
  subscriptions: number,
  month: { start: number; hours: number },
  log: (s: string) => void,
) {
  const db = svc.store.db;
  const now = month.start + month.hours * HOUR + 4 * DAY; // every late report is in
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
      const usage = subscriptionMonth(rand, id, month.start, month.hours);
      const base = nextInstance;
      nextInstance += usage.instances.length;
      for (const [j, x] of usage.instances.entries())
        inst.push([base + j, seq, instanceHash(x), x.resourceUri, x.location, x.tags, x.additionalInfo]);
      const key = (r: BenchHourly) => [r.hour, meters[r.meter]!, base + r.instance] as const;
      const sorted = usage.rows
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
  const closed = now - (now % HOUR) - HOUR;
  await sql`update usage_clock set value = ${closed} where name in ('sealed_until', 'rolled_up_until')`.execute(
    db,
  );
  if (svc.store.dialect === "postgres") {
    await sql`select setval(pg_get_serial_sequence('usage_instances', 'seq'), ${nextInstance})`.execute(db);
    // What autovacuum would have done by now: statistics, and the visibility map that lets the
    // usage query read the aggregate table's primary key alone (an index-only scan).
    await sql`vacuum analyze usage_hourly`.execute(db);
    await sql`vacuum analyze usage_daily`.execute(db);
    await sql`analyze`.execute(db);
  }
  await db
    .insertInto("meta")
    .values({ key: MARKER, value: JSON.stringify({ subscriptions, hourlyRows, dailyRows, month }) })
    .execute();
  return { hourlyRows, dailyRows, seconds: (performance.now() - started) / 1000 };
}

/** The server under test: `tally serve` in its own process, on the built store. */
async function startServer(
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [BIN, "serve"], { env, stdio: ["ignore", "ignore", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /tally is running at (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (c) => reject(new Error(`server exited (${c}): ${err}`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: () =>
      new Promise((r) => {
        child.on("exit", () => r());
        child.kill("SIGTERM");
      }),
  };
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; undefined elsewhere). */
function processCpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/**
 * The bench's HTTP client: one keep-alive connection, one request at a time, timed from sending
 * the request to the last byte of the answer. It reads into one buffer of its own (the socket's
 * `onread` buffer, copied into a page buffer kept from request to request) and allocates nothing
 * per page: the client shares the machine's two cores with the server and the database, and
 * node:http's client (a fresh buffer per socket read, the body joined per page) cost it ~6 ms of
 * CPU per ~0.9 MB page, most of it garbage collection on all its threads, which showed up as
 * the server's tail latency (measured: the month walk's p99 on PostgreSQL 23 → 10 ms with this
 * client, the server unchanged). A page's body is a view valid until the next request.
 */
class PageClient {
  private page = Buffer.allocUnsafe(4 << 20);
  private readonly readBuffer = Buffer.allocUnsafe(256 << 10);
  private socket: Socket | undefined;
  private have = 0;
  private bodyAt = -1;
  private end = -1;
  private status = 0;
  private t0 = 0;
  private pending: {
    resolve(p: { ms: number; body: Buffer }): void;
    reject(e: Error): void;
    path: string;
  } | null = null;

  constructor(private readonly base: URL) {}

  /** Sends one request (opening the connection first if it is not, or no longer, open). */
  async get(path: string, auth: string): Promise<{ ms: number; body: Buffer }> {
    if (this.pending) throw new Error("one request at a time");
    const socket = this.socket ?? (await this.open());
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, path };
      this.t0 = performance.now();
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${this.base.host}\r\nAuthorization: ${auth}\r\n\r\n`,
        "latin1",
      );
    });
  }

  close(): void {
    this.pending = null;
    this.socket?.destroy();
  }

  private async open(): Promise<Socket> {
    const socket = connect({
      host: this.base.hostname,
      port: Number(this.base.port),
      noDelay: true,
      onread: { buffer: this.readBuffer, callback: (n, buf) => this.received(buf, n) },
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const lost = (e: Error) => {
      if (this.socket === socket) this.socket = undefined;
      this.have = 0;
      this.bodyAt = -1;
      const p = this.pending;
      this.pending = null;
      p?.reject(e);
    };
    socket.on("error", lost);
    socket.on("close", () => lost(new Error("the server closed the connection")));
    this.socket = socket;
    return socket;
  }

  private received(buf: Uint8Array, n: number): boolean {
    if (this.have + n > this.page.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.page.length * 2, this.have + n));
      this.page.copy(bigger, 0, 0, this.have);
      this.page = bigger;
    }
    this.page.set(buf.subarray(0, n), this.have);
    this.have += n;
    if (this.bodyAt < 0) {
      const i = this.page.subarray(0, this.have).indexOf("\r\n\r\n");
      if (i < 0) return true;
      const head = this.page.toString("latin1", 0, i);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) {
        this.socket?.destroy(new Error(`an answer without Content-Length: ${head}`));
        return true;
      }
      this.status = Number(head.slice(9, 12));
      this.bodyAt = i + 4;
      this.end = this.bodyAt + Number(length[1]);
    }
    if (this.have < this.end) return true;
    const ms = performance.now() - this.t0;
    const body = this.page.subarray(this.bodyAt, this.end);
    const p = this.pending;
    this.pending = null;
    this.have = 0;
    this.bodyAt = -1;
    this.end = -1;
    if (!p) return true;
    if (this.status !== 200)
      p.reject(new Error(`${p.path}: ${this.status} ${body.toString().slice(0, 300)}`));
    else p.resolve({ ms, body });
    return true;
  }
}

const QUANTITY = Buffer.from('"quantity":');

/**
 * The items of a page and the exact sum of their quantities (in 1e-10 units), read from the
 * bytes: no text of the page is made. The walk checks every page this way between timed requests,
 * so the client's own work must stay small (decoding and matching each ~0.9 MB page as a string
 * left the client's garbage collector running into the next timed request: ~1 ms on the p50).
 */
function pageQuantities(body: Buffer): { items: number; sum: bigint } {
  let items = 0;
  let whole = 0; // per page: far inside the doubles' exact integers
  let frac = 0;
  for (let at = body.indexOf(QUANTITY); at >= 0; at = body.indexOf(QUANTITY, at)) {
    at += QUANTITY.length;
    let w = 0;
    while (body[at]! >= 48 && body[at]! <= 57) w = w * 10 + body[at++]! - 48;
    let f = 0;
    if (body[at] === 46) {
      let scale = 1e9;
      for (at++; body[at]! >= 48 && body[at]! <= 57; at++, scale /= 10) f += (body[at]! - 48) * scale;
    }
    whole += w;
    frac += f;
    items++;
  }
  return { items, sum: BigInt(whole) * 10_000_000_000n + BigInt(frac) };
}

/** The next page's path and query, copied out of the page's last bytes. */
function nextPath(body: Buffer): string | undefined {
  const m = /,"nextLink":"([^"]+)"\}$/.exec(body.subarray(Math.max(0, body.length - 2000)).toString());
  if (!m) return undefined;
  const u = new URL(m[1]!);
  return u.pathname + u.search;
}

/**
 * The usage API over a store of ~10M hourly aggregates (10k subscriptions, a month): one
 * 1,000-aggregate page at many offsets (p50, p99), for the operator and tenants, Daily and Hourly;
 * the raw indexed read of a page as the same run's baseline; and a full walk of the month for all
 * subscriptions through nextLink, its total checked against one SQL sum. The server is `tally
 * serve` in its own process; the client sends one request at a time over a keep-alive connection
 * and times each to its last byte; the server's CPU time is read per phase.
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
  const databaseUrl =
    opts.database === "postgres"
      ? (() => {
          const u = new URL(opts.postgresUrl!);
          u.searchParams.set("options", `-c search_path=${schema}`);
          return u.toString();
        })()
      : join(dataDir, "tally.db");
  const env = {
    ...process.env,
    TALLY_DATA_DIR: dataDir,
    TALLY_DATABASE_URL: databaseUrl,
    TALLY_LOG_LEVEL: "warn",
    TALLY_PORT: "0",
    TALLY_HOST: "127.0.0.1",
  };
  const reuse =
    opts.keep !== undefined && (opts.database === "postgres" || existsSync(join(dataDir, "tally.db")));
  if (schema) await (await openStore({ url: opts.postgresUrl!, schema })).close();
  let month = benchMonth();
  const svc = await openServices(loadConfig(env), {
    migrate: true,
    logger: createLogger({ logLevel: "warn" }),
  });
  try {
    const marker = reuse
      ? await svc.store.db.selectFrom("meta").select("value").where("key", "=", MARKER).executeTakeFirst()
      : undefined;
    let built: { hourlyRows: number; dailyRows: number; seconds: number | null };
    if (
      marker &&
      JSON.parse(marker.value).subscriptions === opts.subscriptions &&
      JSON.parse(marker.value).month !== undefined
    ) {
      const m = JSON.parse(marker.value) as { hourlyRows: number; dailyRows: number; month: typeof month };
      built = { ...m, seconds: null };
      month = m.month;
      opts.log(`  reusing the store in ${schema ?? dataDir}`);
    } else {
      opts.log(
        `  building ${opts.subscriptions.toLocaleString("en")} subscriptions × a month of hourly aggregates…`,
      );
      built = await buildStore(svc, opts.subscriptions, month, opts.log);
      opts.log(
        `  built ${built.hourlyRows.toLocaleString("en")} hourly and ${built.dailyRows.toLocaleString("en")} daily rows in ${built.seconds!.toFixed(0)} s`,
      );
    }
    const monthEnd = month.start + month.hours * HOUR;
    const auth = `Bearer ${await svc.tokens.sign({ subject: svc.system.operatorPrincipalId, ttlMs: DAY })}`;
    const dps = svc.system.defaultProviderSubscriptionId;
    const window = (g: string) =>
      `reportedStartTime=${new Date(month.start).toISOString()}&reportedEndTime=${new Date(monthEnd).toISOString()}&aggregationGranularity=${g}&api-version=2015-06-01-preview`;
    const operatorUrl = (g: string) =>
      `/subscriptions/${dps}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?${window(g)}`;
    const tenantUrl = (sub: string, g: string) =>
      `/subscriptions/${sub}/providers/Microsoft.Commerce/UsageAggregates?${window(g)}`;

    // The raw baseline: 1,000 rows in key order from a random key, through the same driver.
    const rand = rng(99);
    const raw: number[] = [];
    const subSeqs = (
      await svc.store.db.selectFrom("subscriptions").select("seq").orderBy("seq").execute()
    ).map((r) => Number(r.seq));
    for (let i = 0; i < 500; i++) {
      const s = subSeqs[Math.floor(rand() * subSeqs.length)]!;
      raw.push(
        await measure(() =>
          sql`select subscription_seq, usage_hour, meter_seq, instance_seq, reported_hour, q_units, q_frac from usage_hourly
            where (subscription_seq, usage_hour) >= (${s}, ${month.start}) order by subscription_seq, usage_hour, meter_seq, instance_seq, reported_hour
            limit 1000`.execute(svc.store.db),
        ),
      );
    }
    const rawPage = figures("raw indexed read of 1,000 hourly rows", raw);
    const check = await sql<{ u: string; f: string; n: string }>`select cast(sum(q_units) as text) as u,
        cast(sum(q_frac) as text) as f, cast(count(*) as text) as n from (select sum(q_units) as q_units, sum(q_frac) as q_frac
        from usage_hourly where reported_hour >= ${month.start} and reported_hour < ${monthEnd}
        group by subscription_seq, usage_hour, meter_seq, instance_seq) g`.execute(svc.store.db);
    await svc.close();

    const loadStart = loadavg()[0]!;
    opts.log(
      `  raw page read: p50 ${rawPage.p50Ms} ms, p99 ${rawPage.p99Ms} ms; load average ${loadStart.toFixed(1)} on ${cpus().length} cores`,
    );
    const server = await startServer(env);
    const client = new PageClient(new URL(server.url));
    try {
      /** Requests the pages a phase gives, one at a time; wall time per page and the server's CPU per page. */
      const phase = async (
        name: string,
        paths: () => AsyncGenerator<string, void, Buffer>,
      ): Promise<PageFigures> => {
        const samples: number[] = [];
        const cpu0 = processCpuMs(server.pid);
        const own0 = process.cpuUsage();
        const gen = paths();
        for (let next = await gen.next(undefined as never); !next.done; ) {
          const p = await client.get(next.value, auth);
          samples.push(p.ms);
          next = await gen.next(p.body);
        }
        const cpu1 = processCpuMs(server.pid);
        const own = process.cpuUsage(own0);
        const f = figures(name, samples);
        const serverCpu =
          cpu0 === undefined || cpu1 === undefined ? null : round((cpu1 - cpu0) / samples.length);
        const clientCpu = round((own.user + own.system) / 1000 / samples.length);
        const out = { ...f, serverCpuMsPerPage: serverCpu, clientCpuMsPerPage: clientCpu };
        opts.log(
          `  ${name}: ${f.pages} pages, p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, max ${f.maxMs} ms; server CPU ${serverCpu ?? "?"} ms/page, client CPU ${clientCpu} ms/page`,
        );
        return out;
      };
      // Warm-up: JIT, caches, the token secret.
      for (let i = 0; i < 50; i++) await client.get(tenantUrl(subscriptionGuid(i), "Hourly"), auth);

      // The full walk: the operator's whole month, hourly, every subscription, page after page.
      opts.log("  walking the whole month, hourly, as the operator…");
      const links: string[] = [];
      let aggregates = 0;
      let total = 0n;
      const walkStart = performance.now();
      const walk = await phase("operator, Hourly, every page of the month walk", async function* () {
        let path: string | undefined = operatorUrl("Hourly");
        while (path !== undefined) {
          const body: Buffer = yield path;
          const q = pageQuantities(body);
          aggregates += q.items;
          total += q.sum;
          path = nextPath(body);
          if (path !== undefined) links.push(path);
          if (links.length % 2000 === 0 && path !== undefined) opts.log(`  … ${links.length} pages`);
        }
      });
      const walkSeconds = (performance.now() - walkStart) / 1000;
      const totalText = `${total / 10_000_000_000n}.${(total % 10_000_000_000n).toString().padStart(10, "0")}`;
      // The walk must have seen every aggregate of the window once: its total equals one SQL sum.
      const c = check.rows[0]!;
      if (BigInt(c.u) * 10_000_000_000n + BigInt(c.f) !== total || Number(c.n) !== aggregates)
        throw new Error(
          `the walk saw ${aggregates} aggregates totalling ${totalText}; the store holds ${c.n} (${c.u} + ${c.f}e-10)`,
        );

      const pages: PageFigures[] = [walk];
      // Random offsets: links from the walk, in random order (the tokens are stateless).
      pages.push(
        await phase("operator, Hourly, random offsets", async function* () {
          for (let i = 0; i < Math.min(2000, links.length); i++)
            yield links[Math.floor(rand() * links.length)]!;
        }),
      );
      pages.push(
        await phase("operator, Daily, every page of the month", async function* () {
          let path: string | undefined = operatorUrl("Daily");
          while (path !== undefined) path = nextPath(yield path);
        }),
      );
      for (const g of ["Hourly", "Daily"])
        pages.push(
          await phase(`tenant, ${g}, every page of 1,000 random subscriptions' month`, async function* () {
            for (let i = 0; i < 1000; i++) {
              let path: string | undefined = tenantUrl(
                subscriptionGuid(Math.floor(rand() * opts.subscriptions)),
                g,
              );
              while (path !== undefined) path = nextPath(yield path);
            }
          }),
        );
      opts.log(
        `  full walk: ${aggregates.toLocaleString("en")} aggregates in ${walk.pages} pages, ${walkSeconds.toFixed(1)} s (${Math.round(aggregates / walkSeconds).toLocaleString("en")} aggregates/s)`,
      );
      return {
        database: opts.database,
        subscriptions: opts.subscriptions,
        hourlyRows: built.hourlyRows,
        dailyRows: built.dailyRows,
        buildSeconds: built.seconds === null ? null : Math.round(built.seconds),
        rawPage,
        pages,
        load: { start: round(loadStart), end: round(loadavg()[0]!), cores: cpus().length },
        walk: {
          pages: walk.pages,
          aggregates,
          seconds: Math.round(walkSeconds * 10) / 10,
          aggregatesPerSec: Math.round(aggregates / walkSeconds),
          quantityTotal: totalText,
        },
      };
    } finally {
      client.close();
      await server.stop();
    }
  } finally {
    await svc.close().catch(() => undefined);
    if (schema && !opts.keep) {
      const s = await openStore({ url: opts.postgresUrl! });
      await sql`drop schema if exists ${sql.raw(schema)} cascade`.execute(s.db);
      await s.close();
    }
    // A kept SQLite store lives in its data dir; on PostgreSQL the data dir only held signing keys.
    if (!(opts.keep && opts.database === "sqlite")) rmSync(dataDir, { recursive: true, force: true });
  }
}
