import { basename } from "node:path";
import type { Command } from "commander";
import { stringify } from "csv-stringify/sync";
import type { UsageItem } from "../../usage/service.js";
import type { ApiClient } from "../client.js";
import { describeFailure } from "../client.js";
import { cliConfig, query, withClient } from "../context.js";
import { CliError } from "../errors.js";
import { type FileRecord, fileSize, readRecords } from "../files/records.js";
import { type Column, printRows } from "../output.js";
import { progressBar } from "../progress.js";

interface Totals {
  inserted: number;
  duplicates: number;
  rejected: number;
  rejectedBatches: number;
}

interface ErrorEnvelope {
  error?: { code?: string; message?: string; details?: { index?: number; field: string; reason: string }[] };
}

/**
 * Sends records to the server in batches (NDJSON bodies), through the same API as any client. A
 * rejected batch is reported with the file lines of its bad records; the others still go.
 */
async function sendFiles(
  client: ApiClient,
  files: string[],
  opts: { path: string; batchSize: number; headers: Record<string, string>; label: string },
): Promise<Totals> {
  const totals: Totals = { inserted: 0, duplicates: 0, rejected: 0, rejectedBatches: 0 };
  const total = files.reduce((s, f) => s + fileSize(f), 0);
  const bar = progressBar(
    `${opts.label} |{bar}| {percentage}% | {value}/{total} bytes | {records} records`,
    total,
  );
  let records = 0;
  for (const file of files) {
    const name = basename(file);
    let batch: FileRecord[] = [];
    const send = async () => {
      if (batch.length === 0) return;
      const body = batch.map((r) => r.text).join("\n");
      const res = await client.raw("POST", opts.path, body, {
        headers: { "content-type": "application/x-ndjson", ...opts.headers },
      });
      if (res.status < 300) {
        const r = JSON.parse(res.body) as { inserted: number; duplicates: number };
        totals.inserted += r.inserted;
        totals.duplicates += r.duplicates;
      } else if (res.status === 401 || res.status === 403) {
        throw new CliError(describeFailure(res.status, res.body));
      } else {
        totals.rejected += batch.length;
        totals.rejectedBatches++;
        const env = JSON.parse(res.body || "{}") as ErrorEnvelope & { error?: { conflicts?: number[] } };
        const where = (i: number | undefined) =>
          i === undefined ? name : `${name} line ${batch[i]?.line ?? "?"}`;
        bar.log(
          `rejected batch of ${batch.length} (${name} lines ${batch[0]!.line}-${batch.at(-1)!.line}): ${env.error?.code ?? res.status}: ${env.error?.message ?? ""}\n`,
        );
        for (const d of env.error?.details?.slice(0, 20) ?? [])
          bar.log(`  ${where(d.index)}: ${d.field}: ${d.reason}\n`);
        for (const i of env.error?.conflicts?.slice(0, 20) ?? [])
          bar.log(`  ${where(i)}: id re-used with different content\n`);
      }
      records += batch.length;
      batch = [];
    };
    for await (const rec of readRecords(file, (n) => bar.increment(n, { records }))) {
      batch.push(rec);
      if (batch.length >= opts.batchSize) await send();
    }
    await send();
  }
  bar.update(total, { records });
  bar.stop();
  return totals;
}

function summary(t: Totals, json: boolean | undefined): void {
  if (json) process.stdout.write(`${JSON.stringify(t)}\n`);
  else
    process.stdout.write(
      `new ${t.inserted}, duplicate ${t.duplicates}, rejected ${t.rejected}${t.rejectedBatches ? ` (in ${t.rejectedBatches} batch${t.rejectedBatches > 1 ? "es" : ""})` : ""}\n`,
    );
  if (t.rejected > 0) process.exitCode = 1;
}

const batchSize = (s: string) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new CliError("--batch-size must be a whole number from 1 to 10000.", 2);
  return n;
};

const columns: Column<UsageItem>[] = [
  ["SUBSCRIPTION", (i) => i.subscriptionId],
  ["METER", (i) => i.meterId ?? ""],
  ["USAGE START", (i) => i.usageStartTime],
  ["USAGE END", (i) => i.usageEndTime],
  ["QUANTITY", (i) => i.quantity],
  ["RESOURCE", (i) => i.instance?.resourceUri ?? ""],
];

export function usageCommand(program: Command): Command {
  const usage = program.command("usage").description("usage records and the usage they add up to");

  usage
    .command("ingest <files...>")
    .description("report usage records from NDJSON or CSV files, in batches, as a source")
    .option("--key <apiKey>", "the source's API key (or TALLY_SOURCE_KEY)")
    .option("--batch-size <n>", "records per request", "1000")
    .action(async (files: string[], o: { key?: string; batchSize: string }, cmd: Command) => {
      const key = o.key ?? cliConfig().sourceKey;
      if (!key) throw new CliError("give the source's API key with --key (or TALLY_SOURCE_KEY).", 2);
      const size = batchSize(o.batchSize);
      await withClient(cmd, async (c, g) =>
        summary(
          await sendFiles(c, files, {
            path: "/api/v1/usage-records",
            batchSize: size,
            headers: { "x-api-key": key },
            label: "ingest",
          }),
          g.json,
        ),
      );
    });

  usage
    .command("import <files...>")
    .description("import historical records that carry their own reportedTime (operators)")
    .option("--batch-size <n>", "records per request (each is one atomic import)", "5000")
    .action(async (files: string[], o: { batchSize: string }, cmd: Command) => {
      const size = batchSize(o.batchSize);
      await withClient(cmd, async (c, g) =>
        summary(
          await sendFiles(c, files, {
            path: "/api/v1/usage-imports",
            batchSize: size,
            headers: {},
            label: "import",
          }),
          g.json,
        ),
      );
    });

  usage
    .command("list")
    .description("usage in a window, like GET /api/v1/usage")
    .requiredOption("--from <time>", "window start, ISO 8601 (inclusive)")
    .requiredOption("--to <time>", "window end, ISO 8601 (exclusive)")
    .option("--time-basis <basis>", "reported or usage", "reported")
    .option("--granularity <g>", "hourly or daily", "hourly")
    .option("--group-by <g>", "instance, meter or subscription", "instance")
    .option("--subscription <guid>", "only this subscription")
    .option("--meter <id>", "only this meter")
    .option("--directory <guid>", "only this directory's subscriptions")
    .option("--provider <id>", "only subscriptions offered below this provider")
    .option("--limit <n>", "items per page (1-5000)", "1000")
    .option("--all", "follow every page")
    .option("--csv", "print CSV")
    .action(async (o: Record<string, string | boolean | undefined>, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const params = {
          from: o.from as string,
          to: o.to as string,
          timeBasis: o.timeBasis as string,
          granularity: o.granularity as string,
          groupBy: o.groupBy as string,
          subscriptionId: o.subscription as string | undefined,
          meterId: o.meter as string | undefined,
          directoryId: o.directory as string | undefined,
          providerId: o.provider as string | undefined,
          limit: o.limit as string,
        };
        const items: UsageItem[] = [];
        let cursor: string | undefined;
        let closedUntil = "";
        for (;;) {
          const page = await c.request<{
            items: UsageItem[];
            nextCursor: string | null;
            closedUntil: string;
          }>("GET", `/api/v1/usage${query({ ...params, cursor })}`);
          items.push(...page.items);
          closedUntil = page.closedUntil;
          if (!o.all || page.nextCursor === null) {
            if (page.nextCursor && !g.json && !o.csv)
              process.stderr.write(`more: --all, or the API's cursor ${page.nextCursor}\n`);
            break;
          }
          cursor = page.nextCursor;
        }
        if (o.csv) {
          process.stdout.write(
            stringify(
              items.map((i) => ({
                ...i,
                instance: undefined,
                resourceUri: i.instance?.resourceUri ?? "",
                location: i.instance?.location ?? "",
              })),
              {
                header: true,
                columns: [
                  "subscriptionId",
                  "meterId",
                  "usageStartTime",
                  "usageEndTime",
                  "quantity",
                  "resourceUri",
                  "location",
                ],
              },
            ),
          );
        } else {
          printRows(items, columns, g);
          if (!g.json) process.stderr.write(`closed until ${closedUntil}\n`);
        }
      }),
    );
  return usage;
}
