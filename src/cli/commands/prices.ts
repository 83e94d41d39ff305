import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import type { ImportResult } from "../../rating/csv.js";
import type { PriceSheet, PriceSheetSummary } from "../../rating/price-sheets.js";
import { describeFailure } from "../client.js";
import { addListOptions, fetchList, query, withClient } from "../context.js";
import { CliError } from "../errors.js";
import { type Column, printObject, printRows } from "../output.js";

const sheetColumns: Column<PriceSheetSummary>[] = [
  ["ID", (s) => s.id],
  ["OFFER", (s) => s.offerId],
  ["CURRENCY", (s) => s.currency],
  ["EFFECTIVE", (s) => s.effectiveDate],
  ["UNTIL", (s) => s.effectiveUntil ?? ""],
  ["METERS", (s) => s.meterCount],
  ["TERMS", (s) => s.terms.map((t) => t.name).join(", ")],
];

const importColumns: Column<ImportResult["versions"][number]>[] = [
  ["ID", (v) => v.id ?? "(dry run)"],
  ["OFFER", (v) => v.offerId],
  ["CURRENCY", (v) => v.currency],
  ["EFFECTIVE", (v) => v.effectiveDate],
  ["METERS", (v) => v.meterCount],
  ["LINES", (v) => `${v.lines.first}-${v.lines.last}`],
  ["TERMS FROM", (v) => v.termsFrom ?? "(none)"],
];

const path = (id: string) => `/api/v1/price-sheets/${encodeURIComponent(id)}`;

function readInput(file: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** `tally prices …`: versioned price sheets, CSV import and export. */
export function pricesCommand(program: Command): void {
  const prices = program.command("prices").description("price sheets: versioned prices of offers");

  prices
    .command("import <file>")
    .description(
      "import price sheet versions from CSV (offerId,currency,effectiveDate,meterId,tierStart,unitPrice,includedQuantity); all or nothing, every bad row named by line ('-' reads stdin)",
    )
    .option("--dry-run", "validate only; import nothing")
    .action(async (file: string, o: { dryRun?: boolean }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const text = readInput(file);
        const r = await c.raw(
          "POST",
          `/api/v1/price-sheets/import${query({ dryRun: o.dryRun ? "true" : undefined })}`,
          text,
          {
            headers: { "content-type": "text/csv" },
          },
        );
        if (r.status >= 400) throw new CliError(`${file}: ${describeFailure(r.status, r.body)}`);
        const result = JSON.parse(r.body) as ImportResult;
        if (g.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else printRows(result.versions, importColumns, g);
        if (!g.json)
          process.stderr.write(
            `${o.dryRun ? "valid: would import" : "imported"} ${result.versions.length} price sheet version(s)\n`,
          );
      }),
    );

  prices
    .command("export")
    .description("export price sheet versions as CSV, one row per meter and tier")
    .option("--offer <id>", "only this offer's")
    .option("--currency <code>", "only this currency's")
    .option("--at <instant>", "only the versions in force at this ISO 8601 instant")
    .option("--output <file>", "write to this file instead of stdout")
    .action(async (o: { offer?: string; currency?: string; at?: string; output?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const r = await c.raw(
          "GET",
          `/api/v1/price-sheets/export${query({ offerId: o.offer, currency: o.currency, effectiveAt: o.at })}`,
        );
        if (r.status >= 400) throw new CliError(describeFailure(r.status, r.body));
        if (o.output === undefined) process.stdout.write(r.body);
        else writeFileSync(o.output, r.body);
      }),
    );

  prices
    .command("create <file>")
    .description(
      "create a version from a JSON file: {offerId, currency, effectiveDate, meters: [{meterId, rates, includedQuantity}], terms}",
    )
    .action(async (file: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = await c.raw("POST", "/api/v1/price-sheets", readInput(file));
        if (r.status >= 400) throw new CliError(`${file}: ${describeFailure(r.status, r.body)}`);
        const { meters: _m, ...summary } = JSON.parse(r.body) as PriceSheet;
        printObject(g.json ? JSON.parse(r.body) : summary, g);
      }),
    );

  addListOptions(
    prices
      .command("list")
      .description("list price sheet versions")
      .option("--offer <id>", "only this offer's")
      .option("--currency <code>", "only this currency's")
      .option("--at <instant>", "only the versions in force at this ISO 8601 instant"),
  ).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<PriceSheetSummary>(
        c,
        "/api/v1/price-sheets",
        { offerId: o.offer, currency: o.currency, effectiveAt: o.at },
        o,
      );
      printRows(page.items, sheetColumns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );

  prices
    .command("get <id>")
    .description("show a price sheet version with its meters")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const s = await c.request<PriceSheet>("GET", path(id));
        if (g.json) return printObject(s, g);
        const { meters, ...summary } = s;
        printObject(summary, g);
        printRows(
          meters,
          [
            ["METER", (m) => m.meterId],
            ["NAME", (m) => m.meterName],
            ["UNIT", (m) => m.unit],
            [
              "RATES",
              (m) =>
                Object.entries(m.rates)
                  .map(([k, v]) => `${k}: ${v}`)
                  .join("; "),
            ],
            ["INCLUDED", (m) => m.includedQuantity],
          ],
          g,
        );
      }),
    );

  prices
    .command("diff <id>")
    .description("what changed from the previous version (or --base) to this one")
    .option("--base <id>", "compare with this version instead")
    .action(async (id: string, o: { base?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const d = await c.request<{
          base: PriceSheetSummary | null;
          added: { meterId: string; rates: Record<string, string> }[];
          removed: { meterId: string }[];
          changed: {
            meterId: string;
            tiers: { tier: string; before: string | null; after: string | null }[];
            includedQuantity: { before: string; after: string } | null;
          }[];
          unchanged: number;
          terms: { changed: boolean; before: unknown[]; after: unknown[] };
        }>("GET", `${path(id)}/diff${query({ base: o.base })}`);
        if (g.json) return printObject(d, g);
        process.stdout.write(`base: ${d.base ? `${d.base.id} (${d.base.effectiveDate})` : "(none)"}\n`);
        const rows = [
          ...d.added.map((m) => ({ change: "added", meterId: m.meterId, detail: JSON.stringify(m.rates) })),
          ...d.removed.map((m) => ({ change: "removed", meterId: m.meterId, detail: "" })),
          ...d.changed.map((m) => ({
            change: "changed",
            meterId: m.meterId,
            detail: [
              ...m.tiers.map((t) => `tier ${t.tier}: ${t.before ?? "-"} → ${t.after ?? "-"}`),
              ...(m.includedQuantity
                ? [`included: ${m.includedQuantity.before} → ${m.includedQuantity.after}`]
                : []),
            ].join("; "),
          })),
        ];
        printRows(
          rows,
          [
            ["CHANGE", (r) => r.change],
            ["METER", (r) => r.meterId],
            ["DETAIL", (r) => r.detail],
          ],
          g,
        );
        process.stdout.write(
          `unchanged meters: ${d.unchanged}; terms ${d.terms.changed ? "changed" : "unchanged"}\n`,
        );
      }),
    );

  prices
    .command("withdraw <id>")
    .description("withdraw a version that has not come into force yet")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", path(id));
        process.stderr.write(`withdrew price sheet ${id}\n`);
      }),
    );
}
