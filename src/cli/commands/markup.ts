import type { Command } from "commander";
import type { Markup } from "../../rating/markups.js";
import { fetchList, withClient } from "../context.js";
import { type Column, printObject, printRows } from "../output.js";

const columns: Column<Markup>[] = [
  ["ID", (m) => m.id],
  ["SCOPE", (m) => m.scope],
  ["PERCENT", (m) => m.percent],
  ["DESCRIPTION", (m) => m.description ?? ""],
];

/** `tally markup …`: resellers' percentages on the price sheets. */
export function markupCommand(program: Command): void {
  const markup = program
    .command("markup")
    .description("markups and discounts on the price sheets, per delegated provider or billing account");

  markup
    .command("set")
    .description("set the markup at a scope (creates or changes it); a negative percent is a discount")
    .requiredOption("--scope <scope>", "/providers/{id} or /billingAccounts/{id}")
    .requiredOption("--percent <p>", "e.g. 20 or -15.5")
    .option("--description <text>", "what it is for")
    .action(async (o: { scope: string; percent: string; description?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const all = await fetchList<Markup>(c, "/api/v1/markups", {}, { all: true, limit: "1000" });
        const canonical = o.scope.replace(/\/$/, "").toLowerCase();
        const existing = all.items.find((m) => m.scope.toLowerCase() === canonical);
        const body = {
          percent: o.percent,
          ...(o.description !== undefined ? { description: o.description } : {}),
        };
        printObject(
          existing
            ? await c.request<Markup>("PATCH", `/api/v1/markups/${existing.id}`, body)
            : await c.request<Markup>("POST", "/api/v1/markups", { scope: o.scope, ...body }),
          g,
        );
      }),
    );

  markup
    .command("list")
    .description("list the markups you may see")
    .action(async (_o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = await fetchList<Markup>(c, "/api/v1/markups", {}, { all: true, limit: "1000" });
        printRows(page.items, columns, g);
      }),
    );

  markup
    .command("remove <id>")
    .description("remove a markup")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", `/api/v1/markups/${encodeURIComponent(id)}`);
        process.stderr.write(`removed markup ${id}\n`);
      }),
    );
}
