import type { Command } from "commander";
import { DEMO_RESELLER, DEMO_SOURCES, demoRecords, demoTenants, demoWindow } from "../../demo/generator.js";
import { HOUR } from "../../domain/time.js";
import type { ApiClient } from "../client.js";
import { describeFailure } from "../client.js";
import { withClient } from "../context.js";
import { CliError } from "../errors.js";
import { progressBar } from "../progress.js";

interface DemoOpts {
  days: string;
  subscriptions: string;
  seed: string;
  batchSize: string;
}

const int = (name: string, s: string, min: number, max: number) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliError(`--${name} must be a whole number from ${min} to ${max}.`, 2);
  return n;
};

/** Creates what does not exist yet; an existing resource (409) is fine when the demo is loaded again. */
async function ensure(c: ApiClient, path: string, body: unknown): Promise<void> {
  const r = await c.raw("POST", path, JSON.stringify(body));
  if (r.status !== 201 && r.status !== 409) throw new CliError(describeFailure(r.status, r.body));
}

export function demoCommand(program: Command): void {
  const demo = program.command("demo").description("demo data");
  demo
    .command("load")
    .description(
      "create tenants and subscriptions and import a realistic past month of usage (deterministic per seed)",
    )
    .option("--days <n>", "days of usage", "31")
    .option("--subscriptions <n>", "tenant subscriptions", "50")
    .option("--seed <n>", "random seed: the same seed gives the same cloud", "1")
    .option("--batch-size <n>", "records per import request", "5000")
    .action(async (o: DemoOpts, cmd: Command) => {
      const days = int("days", o.days, 1, 400);
      const subs = int("subscriptions", o.subscriptions, 1, 100_000);
      const seed = int("seed", o.seed, 0, 2 ** 31);
      const batchSize = int("batch-size", o.batchSize, 1, 10_000);
      await withClient(cmd, async (c, g) => {
        const defaultProviderSubscriptionId = (
          await c.request<{ subscriptionId: string }>("GET", "/api/v1/providers/operator")
        ).subscriptionId;
        const { directories, subscriptions } = demoTenants({ seed, subscriptions: subs });
        await ensure(c, "/api/v1/providers", { id: DEMO_RESELLER, displayName: "Demo Reseller" });
        for (const d of directories) await ensure(c, "/api/v1/directories", d);
        for (const s of subscriptions) {
          await ensure(c, "/api/v1/subscriptions", {
            id: s.id,
            displayName: s.displayName,
            directoryId: s.directoryId,
            ...(s.reseller ? { providerId: DEMO_RESELLER } : {}),
          });
        }
        for (const name of DEMO_SOURCES) await ensure(c, "/api/v1/sources", { name });

        // History may only be imported before the import horizon (closed, before live usage, before
        // anything already answered): the demo month ends there.
        const horizon = await c.request<{ importBefore: string; reason: string }>(
          "GET",
          "/api/v1/usage-imports/horizon",
        );
        const reportedBefore = Date.parse(horizon.importBefore);
        const { start, end } = demoWindow(reportedBefore, days);
        if (end <= start)
          throw new CliError(
            `no room for demo usage: imports must end before ${horizon.importBefore} (${horizon.reason}).`,
          );
        const options = {
          seed,
          subscriptions: subs,
          start,
          end,
          reportedBefore,
          defaultProviderSubscriptionId,
        };
        const bar = progressBar(
          "demo |{bar}| {percentage}% | {value}/{total} hours | {records} records",
          (end - start) / HOUR,
        );
        let inserted = 0;
        let duplicates = 0;
        let records = 0;
        let batch: string[] = [];
        const send = async () => {
          if (!batch.length) return;
          const r = await c.raw("POST", "/api/v1/usage-imports", batch.join("\n"), {
            headers: { "content-type": "application/x-ndjson" },
          });
          if (r.status !== 201) {
            bar.stop();
            throw new CliError(`the import was refused: ${describeFailure(r.status, r.body)}`);
          }
          const res = JSON.parse(r.body) as { inserted: number; duplicates: number };
          inserted += res.inserted;
          duplicates += res.duplicates;
          records += batch.length;
          batch = [];
        };
        for (const rec of demoRecords(options, subscriptions)) {
          batch.push(JSON.stringify(rec));
          if (batch.length >= batchSize) {
            await send();
            bar.update((Date.parse(rec.usageStartTime) - start) / HOUR, { records });
          }
        }
        await send();
        bar.update((end - start) / HOUR, { records });
        bar.stop();
        const result = {
          directories: directories.length,
          subscriptions: subscriptions.length,
          usageFrom: new Date(start).toISOString(),
          usageTo: new Date(end).toISOString(),
          records: inserted,
          duplicatesCollapsed: duplicates,
        };
        if (g.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else
          process.stdout.write(
            `loaded ${result.directories} directories, ${result.subscriptions} subscriptions and ${inserted} usage records ` +
              `(${duplicates} re-sent duplicates counted once) for ${result.usageFrom} – ${result.usageTo}\n`,
          );
      });
    });
}
