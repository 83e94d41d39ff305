import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalClient } from "../../src/cli/client.js";
import { addBillingDownloadCommand } from "../../src/cli/commands/billing-download.js";
import { CliError } from "../../src/cli/errors.js";
import { ManualClock } from "../../src/clock.js";
import { closeHours } from "../../src/usage/rollup.js";
import {
  type DownloadsApp,
  makeInvoice,
  makeLine,
  openDownloadsApp,
  readCsv,
} from "../billing-download-helpers.js";
import { captured } from "../cli-helpers.js";
import { openTestEnv } from "../helpers.js";
import { ingest, makeWorld, record } from "../usage-helpers.js";

process.env.TALLY_LOG_LEVEL = "silent";

const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);

/**
 * `tally billing download` against a server on loopback (the download routes join the app with
 * the billing core; until then the in-process client has no route to reach), run in-process with
 * the exit-code rules of `main`.
 */
function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = new Command("tally")
    .option("--server <url>")
    .option("--token <token>")
    .option("--json")
    .exitOverride();
  addBillingDownloadCommand(program.command("billing").exitOverride()).exitOverride();
  return captured(async () => {
    try {
      await program.parseAsync(["node", "tally", ...args]);
      return 0;
    } catch (x) {
      if (x instanceof CommanderError) return x.code === "commander.helpDisplayed" ? 0 : 2;
      if (x instanceof CliError) {
        process.stderr.write(`error: ${x.message}\n`);
        return x.exitCode;
      }
      throw x;
    }
  });
}

describe("tally billing download", () => {
  let t: DownloadsApp;
  let server: string[];
  const dir = mkdtempSync(join(tmpdir(), "tally-dl-"));

  beforeAll(async () => {
    const clock = new ManualClock(NOV + 10 * 3_600_000);
    t = await openDownloadsApp("sqlite", clock);
    const w = await makeWorld(t);
    await ingest(t, w.apiKey, [record({ id: "r1", sub: w.subA, quantity: "2.5", start: NOV + 3_600_000 })]);
    clock.set(DEC + 86_400_000);
    await closeHours(t.svc);
    const token = await t.svc.tokens.sign({ subject: t.svc.system.operatorPrincipalId, ttlMs: 3_600_000 });
    const invoice = makeInvoice({
      id: "inv_cli",
      period: "2026-11",
      periodStart: new Date(NOV).toISOString(),
      periodEnd: new Date(DEC).toISOString(),
      lines: [
        makeLine({
          kind: "usage",
          subscriptionId: w.subA,
          meterId: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
          usagePeriod: "2026-11",
          quantity: "2.5",
          amount: "1.25",
        }),
      ],
    });
    t.source.invoices.set(invoice.id, { doc: invoice, reportedFrom: NOV, reportedTo: DEC });
    t.source.subscriptionIds = [w.subA];
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    server = [
      "--server",
      `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`,
      "--token",
      token,
    ];
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("has help", async () => {
    const r = await run("billing", "download", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("--period");
    expect(r.out).toContain("--invoice");
  });

  it("streams a period's usage file to a file, and says where with --json", async () => {
    const file = join(dir, "usage.csv");
    const r = await run(
      ...server,
      "--json",
      "billing",
      "download",
      "ba_contoso",
      "--period",
      "2026-11",
      "--format",
      "charges",
      "--output",
      file,
    );
    expect(r.code, r.err).toBe(0);
    const printed = JSON.parse(r.out);
    expect(printed.file).toBe(file);
    expect(printed.bytes).toBe(readFileSync(file).length);
    const rows = readCsv(readFileSync(file, "utf8"));
    expect(rows[0]![0]).toBe("BillingAccountId");
    expect(rows.slice(1).map((row) => row[rows[0]!.indexOf("Cost")])).toEqual(["1.25"]);
    expect(existsSync(`${file}.part`)).toBe(false);
  });

  it("downloads an invoice as PDF under the server's file name", async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await run(...server, "billing", "download", "ba_contoso", "--invoice", "inv_cli");
      expect(r.code, r.err).toBe(0);
      expect(r.err).toContain("wrote invoice-inv_cli.pdf");
      expect(readFileSync(join(dir, "invoice-inv_cli.pdf")).subarray(0, 5).toString()).toBe("%PDF-");
    } finally {
      process.chdir(cwd);
    }
  });

  it("exits 1 on a server error and 2 on a usage error, writing nothing", async () => {
    const file = join(dir, "missing.pdf");
    const missing = await run(
      ...server,
      "billing",
      "download",
      "ba_contoso",
      "--invoice",
      "inv_nope",
      "--output",
      file,
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("NotFound");
    expect(existsSync(file)).toBe(false);
    expect((await run(...server, "billing", "download", "ba_contoso")).code).toBe(2);
    expect(
      (await run(...server, "billing", "download", "ba_contoso", "--period", "2026-11", "--invoice", "x"))
        .code,
    ).toBe(2);
    expect(
      (await run(...server, "billing", "download", "ba_contoso", "--period", "2026-11", "--format", "pdf"))
        .code,
    ).toBe(2);
    expect((await run(...server, "billing", "download", "ba_contoso", "--period", "11/2026")).code).toBe(2);
    expect((await run(...server, "billing", "download", "--period", "2026-11")).code).toBe(2);
  });

  it("streams through the in-process client as well", async () => {
    const env = await openTestEnv("sqlite");
    const c = await LocalClient.open(env.config);
    try {
      const r = await c.stream("/api/v1/price-sheets/export");
      expect(r.status).toBe(200);
      expect(r.headers["content-type"]).toContain("text/csv");
      let text = "";
      for await (const chunk of r.body) text += Buffer.from(chunk as Uint8Array).toString("utf8");
      expect(text).toContain("offerId,currency,effectiveDate");
    } finally {
      await c.close();
      await env.cleanup();
    }
  });
});
