import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type BridgeFigures, benchBridge } from "./bridge.js";
import { benchIngest, type IngestFigures } from "./ingest.js";

/**
 * `npm run bench [-- --records N --postgres URL --only ingest]`: measures tally next to the raw
 * database in the same run and writes bench/results/<date>.json. Targets: DESIGN.md §5.
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
  },
});

const log = (s: string) => process.stderr.write(`${s}\n`);
const postgresUrl =
  values.postgres ?? process.env.TALLY_BENCH_POSTGRES_URL ?? process.env.TALLY_TEST_POSTGRES_URL;
const results: { ingest: IngestFigures[]; bridge?: BridgeFigures } = { ingest: [] };

const TARGETS = { sqlite: { rps: 100_000, ratio: 0.5 }, postgres: { rps: 50_000, ratio: 0.6 } } as const;

function report(f: IngestFigures) {
  const t = TARGETS[f.database];
  const ok = f.tallyRecordsPerSec >= t.rps && f.ratio >= t.ratio;
  log(
    `  ${f.database} (${f.ids} ids): tally ${f.tallyRecordsPerSec.toLocaleString("en")} rec/s, raw ${f.rawRecordsPerSec.toLocaleString("en")} rec/s, ratio ${f.ratio} ` +
      `(target ≥ ${t.rps.toLocaleString("en")} rec/s and ≥ ${t.ratio}) ${ok ? "OK" : "BELOW TARGET"}`,
  );
}

if (!values.only || values.only === "ingest") {
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

if (!values.only || values.only === "bridge") {
  log("usage bridge: one closed reported hour forwarded to a hub on loopback (SQLite both sides)");
  const b = await benchBridge({ aggregates: Number(values["bridge-aggregates"]), log });
  log(
    `  bridge ${b.bridgeAggregatesPerSec.toLocaleString("en")} aggregates/s end to end (${b.batches} batches), ` +
      `hub ingest of the same bodies ${b.hubIngestRecordsPerSec.toLocaleString("en")} rec/s, ratio ${b.ratio}`,
  );
  results.bridge = b;
}

const dir = join(import.meta.dirname, "..", "..", "bench", "results");
mkdirSync(dir, { recursive: true });
const file = join(dir, `${new Date().toISOString().slice(0, 10)}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ at: new Date().toISOString(), node: process.version, ...results }, null, 2)}\n`,
);
log(`wrote ${file}`);
