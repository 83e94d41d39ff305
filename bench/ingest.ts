import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { loadConfig } from "../src/config.js";
import { newGuid } from "../src/domain/ids.js";
import { parseQuantity, splitQuantity } from "../src/domain/quantity.js";
import { createLogger, openServices } from "../src/services.js";
import { createSource } from "../src/sources/service.js";
import { openStore } from "../src/storage/database.js";
import { type BenchRecord, type IdKind, makeRecords } from "./data.js";

export interface IngestFigures {
  database: "sqlite" | "postgres";
  ids: IdKind;
  records: number;
  batchSize: number;
  concurrency: number;
  tallyRecordsPerSec: number;
  rawRecordsPerSec: number;
  ratio: number;
}

const BIN = join(import.meta.dirname, "..", "..", "bin", "tally.js");

function chunks<T>(a: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
  return out;
}

/** Runs `tasks` with at most `concurrency` in flight; returns elapsed seconds. */
async function drive(tasks: (() => Promise<void>)[], concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
  return (performance.now() - started) / 1000;
}

async function startServer(env: NodeJS.ProcessEnv): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      ...(process.env.TALLY_BENCH_PROFILE
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.TALLY_BENCH_PROFILE}`]
        : []),
      BIN,
      "serve",
    ],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
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
    stop: () =>
      new Promise((r) => {
        child.on("exit", () => r());
        child.kill("SIGTERM");
      }),
  };
}

/**
 * Durable ingest over HTTP (a real server process, 1,000-record batches of new records) against
 * the raw insert of the same records into the same table through the same driver, in one run.
 */
export async function benchIngest(opts: {
  database: "sqlite" | "postgres";
  postgresUrl?: string;
  records: number;
  batchSize: number;
  concurrency: number;
  ids: IdKind;
  log: (s: string) => void;
}): Promise<IngestFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), "tally-bench-"));
  const schema = opts.database === "postgres" ? `tally_bench_${Date.now().toString(36)}` : undefined;
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
  try {
    if (schema) {
      const s = await openStore({ url: opts.postgresUrl!, schema });
      await s.close();
    }
    const config = loadConfig(env);
    const svc = await openServices(config, { migrate: true, logger: createLogger({ logLevel: "warn" }) });
    const actor = { principalId: svc.system.operatorPrincipalId, requestId: "bench" };
    const subs: string[] = [];
    const dir = newGuid();
    await svc.store.db
      .insertInto("directories")
      .values({ id: dir, display_name: "bench", created_at: Date.now(), updated_at: Date.now() })
      .execute();
    const subRows = Array.from({ length: 500 }, () => newGuid());
    for (const part of chunks(subRows, 250)) {
      await svc.store.db
        .insertInto("subscriptions")
        .values(
          part.map((id) => ({
            id,
            display_name: "bench",
            directory_id: dir,
            provider_id: "operator",
            offer_id: "default",
            state: "Active" as const,
            created_at: Date.now(),
            updated_at: Date.now(),
            deleted_at: null,
          })),
        )
        .execute();
    }
    subs.push(...subRows);
    const { apiKey } = await createSource(svc, actor, { name: "bench" });
    const meterSeqs = new Map(
      (await svc.store.db.selectFrom("meters").select(["key", "seq"]).execute()).map((m) => [
        m.key,
        Number(m.seq),
      ]),
    );
    const subSeqs = new Map(
      (await svc.store.db.selectFrom("subscriptions").select(["id", "seq"]).execute()).map((s) => [
        s.id,
        Number(s.seq),
      ]),
    );
    await svc.close();

    const endHour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    opts.log(`  generating ${opts.records} records…`);
    const tallyRecords = makeRecords(opts.records, subs, endHour, 1, opts.ids);
    const rawRecords = makeRecords(opts.records, subs, endHour, 2, opts.ids);
    // Bodies are encoded once, up front: the load generator shares the machine's cores with the
    // server and should spend as little of them as it can.
    const bodies = chunks(tallyRecords, opts.batchSize).map((b) => Buffer.from(JSON.stringify(b)));

    // tally over HTTP.
    const server = await startServer(env);
    let tallySeconds: number;
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
      const url = new URL(`${server.url}/api/v1/usage-records`);
      const post = (body: Buffer) => () =>
        new Promise<void>((resolve, reject) => {
          const req = http.request(
            url,
            {
              method: "POST",
              agent,
              headers: {
                "content-type": "application/json",
                "content-length": body.length,
                "x-api-key": apiKey,
              },
            },
            (res) => {
              let text = "";
              res.setEncoding("utf8");
              res.on("data", (d: string) => {
                text += d;
              });
              res.on("end", () =>
                res.statusCode === 200
                  ? resolve()
                  : reject(new Error(`ingest answered ${res.statusCode}: ${text.slice(0, 300)}`)),
              );
            },
          );
          req.on("error", reject);
          req.end(body);
        });
      await drive(bodies.slice(0, 3).map(post), 1); // warm-up: JIT and connections
      opts.log(`  tally: ${bodies.length - 3} batches over HTTP, ${opts.concurrency} in flight…`);
      const cpu = process.cpuUsage();
      tallySeconds = await drive(bodies.slice(3).map(post), opts.concurrency);
      const used = process.cpuUsage(cpu);
      opts.log(
        `  (load generator used ${Math.round(((used.user + used.system) / 1e6 / tallySeconds) * 100)}% of a core)`,
      );
    } finally {
      await server.stop();
    }
    const tallyCount = (bodies.length - 3) * opts.batchSize;

    // Raw: the same kind of records into the same table, through the same driver, no tally code.
    const store = await openStore({
      url: opts.database === "postgres" ? opts.postgresUrl! : databaseUrl,
      ...(schema ? { schema } : {}),
    });
    // The raw table is a copy of usage_records with the same columns, keys and indexes.
    if (store.dialect === "sqlite") {
      const ddl = store
        .sqlite!.prepare("select sql from sqlite_master where tbl_name = 'usage_records' and sql is not null")
        .all() as { sql: string }[];
      for (const d of ddl) store.sqlite!.exec(d.sql.replace(/usage_records/g, "raw_usage_records"));
    } else {
      await sql`create table raw_usage_records (like usage_records including all)`.execute(store.db);
    }
    const rows = rawRecords.map((r) => toRaw(r, subSeqs, meterSeqs));
    const rawBatches = chunks(rows, opts.batchSize);
    let rawSeconds: number;
    if (store.dialect === "sqlite") {
      const db = store.sqlite!;
      const insert = db.prepare(
        `insert into raw_usage_records (${COLS}) values ${Array(64).fill("(?,?,?,?,?,?,?,?,?,?,?,?,?,?)").join(",")} on conflict do nothing`,
      );
      const one = db.prepare(
        `insert into raw_usage_records (${COLS}) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?) on conflict do nothing`,
      );
      const tx = db.transaction((batch: RawRow[]) => {
        let i = 0;
        for (; i + 64 <= batch.length; i += 64) insert.run(...batch.slice(i, i + 64).flat());
        for (; i < batch.length; i++) one.run(...batch[i]!);
      });
      const started = performance.now();
      for (const b of rawBatches) tx.immediate(b);
      rawSeconds = (performance.now() - started) / 1000;
    } else {
      const tasks = rawBatches.map((b) => async () => {
        const c = (i: number) => b.map((r) => r[i]);
        await store.db.transaction().execute(async (trx) => {
          await sql`insert into raw_usage_records (${sql.raw(COLS)})
            select * from unnest(${c(0)}::bigint[], ${c(1)}::text[], ${c(2)}::bigint[], ${c(3)}::bigint[], ${c(4)}::bigint[], ${c(5)}::bigint[], ${c(6)}::bigint[], ${c(7)}::bigint[], ${c(8)}::bigint[], ${c(9)}::text[], ${c(10)}::text[], ${c(11)}::text[], ${c(12)}::text[], ${c(13)}::text[])
            on conflict do nothing`.execute(trx);
        });
      });
      rawSeconds = await drive(tasks, opts.concurrency);
    }
    await store.close();
    const tallyRecordsPerSec = Math.round(tallyCount / tallySeconds);
    const rawRecordsPerSec = Math.round(rows.length / rawSeconds);
    return {
      database: opts.database,
      ids: opts.ids,
      records: opts.records,
      batchSize: opts.batchSize,
      concurrency: opts.concurrency,
      tallyRecordsPerSec,
      rawRecordsPerSec,
      ratio: Math.round((tallyRecordsPerSec / rawRecordsPerSec) * 100) / 100,
    };
  } finally {
    if (schema) {
      const s = await openStore({ url: opts.postgresUrl! });
      await sql`drop schema if exists ${sql.raw(schema)} cascade`.execute(s.db);
      await s.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const COLS =
  "source_seq, record_id, subscription_seq, meter_seq, q_units, q_frac, usage_start, usage_end, reported_at, resource_uri, location, tags, additional_info, import_id";

type RawRow = [
  number,
  string,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  string,
  string,
  string | null,
  string | null,
  null,
];

function toRaw(r: BenchRecord, subs: Map<string, number>, meters: Map<string, number>): RawRow {
  const [u, f] = splitQuantity(parseQuantity(r.quantity) as bigint);
  const tags = r.tags ? JSON.stringify(r.tags) : null;
  const info = r.additionalInfo ? JSON.stringify(r.additionalInfo) : null;
  const start = Date.parse(r.usageStartTime);
  return [
    1,
    r.id,
    subs.get(r.subscriptionId)!,
    meters.get(r.meterId.replaceAll("-", "").toUpperCase())!,
    u,
    f,
    start,
    start + 3_600_000,
    Date.now(),
    r.resourceUri,
    r.location,
    tags,
    info,
    null,
  ];
}
