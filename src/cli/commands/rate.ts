import type { Command } from "commander";
import type { RateAnswer } from "../../rating/rate.js";
import { withClient } from "../context.js";
import { CliError } from "../errors.js";
import { printRows } from "../output.js";

type Row = Record<string, unknown>;

/** `tally rate`: preview the charges of hypothetical quantities or of a subscription's usage. */
export function rateCommand(program: Command): void {
  program
    .command("rate")
    .description(
      "preview charges: --quantity METER=QTY … priced with --offer (or --subscription's offer), or --subscription's usage --from … --to …",
    )
    .option("--offer <id>", "price with this offer")
    .option(
      "--subscription <guid>",
      "price with this subscription's offer and markup (and rate its usage with --from/--to)",
    )
    .option("--currency <code>", "currency (default: the offer's only one)")
    .option("--quantity <meter=qty...>", "hypothetical usage of a meter (repeatable)")
    .option("--at <instant>", "when the hypothetical usage happens (default: now)")
    .option("--no-terms", "leave the offer terms out of a hypothetical preview")
    .option("--from <date>", "usage window start, a UTC midnight (e.g. 2026-11-01T00:00:00Z)")
    .option("--to <date>", "usage window end, exclusive")
    .action(
      async (
        o: {
          offer?: string;
          subscription?: string;
          currency?: string;
          quantity?: string[];
          at?: string;
          terms: boolean;
          from?: string;
          to?: string;
        },
        cmd: Command,
      ) => {
        const quantities = o.quantity?.map((q) => {
          const i = q.lastIndexOf("=");
          if (i <= 0) throw new CliError(`--quantity ${q}: expected METER=QUANTITY`, 2);
          return { meterId: q.slice(0, i), quantity: q.slice(i + 1) };
        });
        const body = {
          offerId: o.offer,
          subscriptionId: o.subscription,
          currency: o.currency,
          quantities,
          at: o.at,
          ...(quantities ? { applyTerms: o.terms } : {}),
          from: o.from,
          to: o.to,
        };
        await withClient(cmd, async (c, g) => {
          const a = await c.request<RateAnswer>("POST", "/api/v1/rate", body);
          if (g.json) {
            process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
            return;
          }
          for (const p of a.periods) {
            process.stdout.write(
              `period ${p.periodStart.slice(0, 10)} – ${p.periodEnd.slice(0, 10)} (${a.currency})\n`,
            );
            printRows(
              p.lines as Row[],
              [
                ["METER", (l) => l.meterName || l.meterId],
                ["TIER", (l) => l.tier],
                ["QUANTITY", (l) => l.quantity],
                ["UNIT PRICE", (l) => l.unitPrice],
                ["AMOUNT", (l) => l.amount],
                ["EFFECTIVE", (l) => String(l.effectiveDate).slice(0, 10)],
              ],
              g,
            );
            for (const x of p.adjustments) process.stdout.write(`  ${x.description}: ${x.amount}\n`);
            for (const u of p.unpriced)
              process.stdout.write(`  unpriced: ${u.meterName || u.meterId} ${u.quantity} (${u.reason})\n`);
            process.stdout.write(`  total ${p.total}\n`);
          }
          process.stdout.write(
            `total ${a.total} ${a.currency}${a.complete ? "" : " (some usage has no price)"}\n`,
          );
        });
      },
    );
}
