import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type BillingFigures, benchBilling } from "./billing.js";
import { type BridgeFigures, benchBridge } from "./bridge.js";
import { benchExport, type ExportFigures } from "./export.js";
import { benchIngest, type IngestFigures } from "./ingest.js";
import { benchUsageApi, type UsageApiFigures } from "./usage-api.js";

/**
 * `npm run bench [-- --records N --postgres URL --only ingest|bridge|usage-api|billing|export --skip-ingest
 * --usage-subscriptions N --usage-keep DIR|SCHEMA --usage-databases sqlite,postgres --export-rows N
 * --export-databases sqlite,postgres]`: measures tally next to
 * the raw database in the same run and writes bench/results/<date>.json. Targets: DESIGN.md §5.
 */
const { values } = parseArgs({
  options: {
    records: { type: "string", default: "400000" },
    "pg-records": { type: "string", default: "200000" },
    postgres: { type: "string" },
    concurrency: { type: "string", default: "8" },
    only: { type: "string" },
    ids: { type: "string", default: "v7" },
    "bridge-aggregates": { type: "string", default: "50000" },
    "skip-ingest": { type: "boolean", default: false },
    "usage-subscriptions": { type: "string", default: "10000" },
    "usage-keep": { type: "string" },
    "usage-databases": { type: "string", default: "sqlite,postgres" },
    "export-rows": { type: "string", default: "1000000" },
    "export-subscriptions": { type: "string", default: "10" },
    "export-databases": { type: "string", default: "sqlite,postgres" },
  },
});

const log = (s: string) => process.stderr.write(`${s}\n`);
const postgresUrl =
  values.postgres ?? process.env.TALLY_BENCH_POSTGRES_URL ?? process.env.TALLY_TEST_POSTGRES_URL;
const results: {
  ingest: IngestFigures[];
  bridge?: BridgeFigures;
  usageApi: UsageApiFigures[];
  billing: BillingFigures[];
  exports: ExportFigures[];
} = {
  ingest: [],
  usageApi: [],
  billing: [],
  exports: [],
};

const TARGETS = { sqlite: { rps: 100_000, ratio: 0.5 }, postgres: { rps: 50_000, ratio: 0.6 } } as const;

function report(f: IngestFigures) {
  const t = TARGETS[f.database];
  const ok = f.tallyRecordsPerSec >= t.rps && f.ratio >= t.ratio;
  log(
    `  ${f.database} (${f.ids} ids): tally ${f.tallyRecordsPerSec.toLocaleString("en")} rec/s, raw ${f.rawRecordsPerSec.toLocaleString("en")} rec/s, ratio ${f.ratio} ` +
      `(target ≥ ${t.rps.toLocaleString("en")} rec/s and ≥ ${t.ratio}) ${ok ? "OK" : "BELOW TARGET"}`,
  );
}

const runs = (what: string) =>
  (values.only === undefined || values.only === what) && !(what === "ingest" && values["skip-ingest"]);

if (runs("ingest")) {
  log("durable ingest over HTTP, 1,000-record batches, every record new");
  const sqlite = await benchIngest({
    database: "sqlite",
    records: Number(values.records),
    batchSize: 1000,
    concurrency: Number(values.concurrency),
    ids: values.ids as "v7" | "v4",
    log,
  });
  report(sqlite);
  results.ingest.push(sqlite);
  if (postgresUrl) {
    const pg = await benchIngest({
      database: "postgres",
      postgresUrl,
      records: Number(values["pg-records"]),
      batchSize: 1000,
      concurrency: Number(values.concurrency),
      ids: values.ids as "v7" | "v4",
      log,
    });
    report(pg);
    results.ingest.push(pg);
  } else {
    log("  postgres: skipped (give --postgres URL or TALLY_BENCH_POSTGRES_URL)");
  }
}

if (runs("bridge")) {
  log("usage bridge: one closed reported hour forwarded to a hub on loopback (SQLite both sides)");
  const b = await benchBridge({ aggregates: Number(values["bridge-aggregates"]), log });
  log(
    `  bridge ${b.bridgeAggregatesPerSec.toLocaleString("en")} aggregates/s end to end (${b.batches} batches), ` +
      `hub ingest of the same bodies ${b.hubIngestRecordsPerSec.toLocaleString("en")} rec/s, ratio ${b.ratio}`,
  );
  results.bridge = b;
}

/**
 * The databases a part runs on: those of a comma-separated list, PostgreSQL only with a URL (said
 * when skipped), each announced; `pg` is the part's PostgreSQL option.
 */
function* databases(list: string) {
  const wanted = list.split(",").map((d) => d.trim());
  for (const database of ["sqlite", "postgres"] as const) {
    if (!wanted.includes(database)) continue;
    if (database === "postgres" && !postgresUrl) {
      log("  postgres: skipped (give --postgres URL or TALLY_BENCH_POSTGRES_URL)");
      continue;
    }
    log(`  ${database}:`);
    yield { database, pg: database === "postgres" ? { postgresUrl: postgresUrl! } : {} };
  }
}

const USAGE_TARGET = { p50Ms: 5, p99Ms: 20 };

if (runs("usage-api")) {
  log("usage API: 1,000-aggregate pages over a month of hourly aggregates for every subscription");
  for (const { database, pg } of databases(values["usage-databases"])) {
    const f = await benchUsageApi({
      database,
      ...pg,
      subscriptions: Number(values["usage-subscriptions"]),
      ...(values["usage-keep"]
        ? { keep: database === "postgres" ? "tally_bench_usage_keep" : `${values["usage-keep"]}-sqlite` }
        : {}),
      log,
    });
    for (const p of f.pages) {
      const ok = p.p50Ms <= USAGE_TARGET.p50Ms && p.p99Ms <= USAGE_TARGET.p99Ms;
      log(
        `  ${database} ${p.name}: p50 ${p.p50Ms} ms, p99 ${p.p99Ms} ms (target p50 ≤ 5 ms, p99 ≤ 20 ms) ${ok ? "OK" : "BELOW TARGET"}`,
      );
    }
    results.usageApi.push(f);
  }
}

const BILLING_TARGET = { closeSeconds: 10, estimateMs: 5 };

if (runs("billing")) {
  log(
    "monthly billing run: accounts for every subscription of the usage store, all closed and invoiced; estimates",
  );
  for (const { database, pg } of databases(values["usage-databases"])) {
    const f = await benchBilling({
      database,
      ...pg,
      subscriptions: Number(values["usage-subscriptions"]),
      ...(values["usage-keep"]
        ? {
            keep: database === "postgres" ? "bench_billing_keep" : `${values["usage-keep"]}-billing-sqlite`,
          }
        : {}),
      log,
    });
    const ok =
      f.closeAllSeconds <= BILLING_TARGET.closeSeconds && f.estimate.p50Ms <= BILLING_TARGET.estimateMs;
    log(
      `  ${database}: invoices for ${f.invoices} accounts in ${f.closeAllSeconds} s (${f.ratioToRawGroupBy} × the raw GROUP BY of ${f.rawHourlyGroupBySeconds} s; target ≤ 10 s), ` +
        `estimate p50 ${f.estimate.p50Ms} ms, p99 ${f.estimate.p99Ms} ms (target ≤ 5 ms) ${ok ? "OK" : "BELOW TARGET"}`,
    );
    results.billing.push(f);
  }
}

const EXPORT_TARGET = { rowsPerSec: 200_000, rssMb: 300 };

if (runs("export")) {
  log("export: the v2 usage file of one billing account's month, streamed over HTTP");
  for (const { database, pg } of databases(values["export-databases"])) {
    const f = await benchExport({
      database,
      ...pg,
      rows: Number(values["export-rows"]),
      subscriptions: Number(values["export-subscriptions"]),
      log,
    });
    const ok = f.tallyRowsPerSec >= EXPORT_TARGET.rowsPerSec && f.peakRssMb <= EXPORT_TARGET.rssMb;
    log(
      `  ${database}: ${f.tallyRowsPerSec.toLocaleString("en")} rows/s (${(f.bytes / 1048576).toFixed(0)} MB), raw read ${f.rawRowsPerSec.toLocaleString("en")} rows/s, ratio ${f.ratio}, ` +
        `peak RSS ${f.peakRssMb} MB (before ${f.rssBeforeMb} MB) (target ≥ 200,000 rows/s, RSS ≤ 300 MB) ${ok ? "OK" : "BELOW TARGET"}`,
    );
    results.exports.push(f);
  }
}

const dir = join(import.meta.dirname, "..", "..", "bench", "results");
mkdirSync(dir, { recursive: true });
const file = join(dir, `${new Date().toISOString().slice(0, 10)}.json`);
// A run of one part (--only, --skip-ingest) keeps the other parts' figures of the same day.
const earlier = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Partial<typeof results>) : {};
const merged = {
  ingest: runs("ingest") ? results.ingest : (earlier.ingest ?? []),
  ...(runs("bridge") ? { bridge: results.bridge } : earlier.bridge ? { bridge: earlier.bridge } : {}),
  usageApi: [
    ...(earlier.usageApi ?? []).filter(
      (e) => !(runs("usage-api") && results.usageApi.some((r) => r.database === e.database)),
    ),
    ...results.usageApi,
  ],
  billing: [
    ...(earlier.billing ?? []).filter(
      (e) => !(runs("billing") && results.billing.some((r) => r.database === e.database)),
    ),
    ...results.billing,
  ],
  exports: [
    ...(earlier.exports ?? []).filter(
      (e) => !(runs("export") && results.exports.some((r) => r.database === e.database)),
    ),
    ...results.exports,
  ],
};
writeFileSync(
  file,
  `${JSON.stringify({ at: new Date().toISOString(), node: process.version, ...merged }, null, 2)}\n`,
);
log(`wrote ${file}`);
