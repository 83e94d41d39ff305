import { createWriteStream, renameSync, rmSync } from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { describeFailure } from "../client.js";
import { query, withClient } from "../context.js";
import { CliError } from "../errors.js";
import { progressBar } from "../progress.js";

interface DownloadOptions {
  account: string;
  period?: string;
  invoice?: string;
  format?: string;
  output?: string;
}

const PERIOD = /^(?:\d{4}-(?:0[1-9]|1[0-2])|current)$/;

/** The request a set of options names, or the usage error (exit code 2) that they are. */
function target(o: DownloadOptions): { path: string; fallbackName: string } {
  const account = encodeURIComponent(o.account);
  if ((o.period === undefined) === (o.invoice === undefined))
    throw new CliError("give either --period YYYY-MM|current or --invoice ID.", 2);
  if (o.period !== undefined) {
    const format = o.format ?? "v2";
    if (!PERIOD.test(o.period)) throw new CliError("--period must be YYYY-MM or current.", 2);
    if (format !== "v2" && format !== "charges")
      throw new CliError("--format must be v2 or charges with --period.", 2);
    return {
      path: `/api/v1/billing-accounts/${account}/usage-download${query({ period: o.period, format })}`,
      fallbackName: `usage-${format}-${o.period}.csv`,
    };
  }
  const format = o.format ?? "pdf";
  if (format !== "pdf" && format !== "csv")
    throw new CliError("--format must be pdf or csv with --invoice.", 2);
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(o.invoice!)) throw new CliError("--invoice is not an invoice id.", 2);
  return {
    path: `/api/v1/billing-accounts/${account}/invoices/${o.invoice}.${format}`,
    fallbackName: `invoice-${o.invoice}.${format}`,
  };
}

/** The file name the server suggests (Content-Disposition), if it is a plain one. */
function suggestedName(disposition: string | undefined): string | undefined {
  const m = /filename="([A-Za-z0-9._-]+)"/.exec(disposition ?? "");
  return m?.[1];
}

/**
 * `tally billing download`: a usage file of a period (`--period`, v2 or charges) or an invoice
 * (`--invoice`, pdf or csv), streamed to a file with a progress bar in bytes. The file appears
 * only once complete (written as FILE.part, then renamed). Added to the `billing` command by
 * whoever builds it.
 */
export function addBillingDownloadCommand(billing: Command): Command {
  return billing
    .command("download <account>")
    .description(
      "download a period's usage file (--period YYYY-MM|current --format v2|charges) or an invoice (--invoice ID --format pdf|csv)",
    )
    .option("--period <period>", "a billing period YYYY-MM, or current (the open period's estimate)")
    .option("--invoice <id>", "an invoice id")
    .option("--format <format>", "v2 (default) or charges for a period; pdf (default) or csv for an invoice")
    .option("--output <file>", "write here (default: the name the server suggests, in the current directory)")
    .action(async (account: string, o: Omit<DownloadOptions, "account">, cmd: Command) => {
      const t = target({ ...o, account });
      await withClient(cmd, async (c, g) => {
        const res = await c.stream(t.path);
        if (res.status >= 400) {
          const chunks: Buffer[] = [];
          for await (const chunk of res.body) chunks.push(Buffer.from(chunk as Uint8Array));
          throw new CliError(describeFailure(res.status, Buffer.concat(chunks).toString("utf8")));
        }
        const file = o.output ?? suggestedName(res.headers["content-disposition"]) ?? t.fallbackName;
        const length = Number(res.headers["content-length"]);
        const known = Number.isSafeInteger(length) && length > 0;
        const bar = progressBar(
          known ? "downloading {bar} {value}/{total} bytes" : "downloading {value} bytes",
          known ? length : 0,
        );
        let bytes = 0;
        const count = new Transform({
          transform(chunk: Buffer, _enc, done) {
            bytes += chunk.length;
            bar.update(bytes);
            done(null, chunk);
          },
        });
        const part = `${file}.part`;
        try {
          await pipeline(res.body, count, createWriteStream(part));
          renameSync(part, file);
        } catch (e) {
          rmSync(part, { force: true });
          throw new CliError(`download failed: ${(e as Error).message}`);
        } finally {
          bar.stop();
        }
        if (g.json) process.stdout.write(`${JSON.stringify({ file, bytes })}\n`);
        else process.stderr.write(`wrote ${file} (${bytes.toLocaleString("en")} bytes)\n`);
      });
    });
}
