import type { Command } from "commander";
import type { Meter } from "../../catalogue/repository.js";
import { addListOptions, fetchList, withClient } from "../context.js";
import { type Column, printObject, printRows } from "../output.js";

const columns: Column<Meter>[] = [
  ["ID", (m) => m.id],
  ["NAME", (m) => m.name],
  ["UNIT", (m) => m.unit],
  ["CATEGORY", (m) => m.category],
  ["STATUS", (m) => m.status],
  ["ORIGIN", (m) => m.origin],
];

const path = (id: string) => `/api/v1/meters/${encodeURIComponent(id)}`;

export function meterCommand(program: Command): void {
  const meter = program.command("meter").description("the meter catalogue");

  addListOptions(
    meter
      .command("list")
      .description("list meters")
      .option("--status <status>", "current or deprecated")
      .option("--category <category>", "e.g. Compute, Storage, Network"),
  ).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<Meter>(c, "/api/v1/meters", { status: o.status, category: o.category }, o);
      printRows(page.items, columns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );

  meter
    .command("get <id>")
    .description("show a meter (ids match case- and hyphen-insensitively)")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => printObject(await c.request<Meter>("GET", path(id)), g)),
    );

  meter
    .command("create")
    .description("add a custom meter")
    .requiredOption("--id <guid>", "meter id (a GUID)")
    .requiredOption("--name <name>", "meter name")
    .requiredOption("--unit <unit>", "unit of measure")
    .requiredOption("--category <category>", "category")
    .option("--sub-category <subCategory>", "sub-category")
    .action(
      async (
        o: { id: string; name: string; unit: string; category: string; subCategory?: string },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) => printObject(await c.request<Meter>("POST", "/api/v1/meters", o), g)),
    );

  for (const [verb, status] of [
    ["deprecate", "deprecated"],
    ["reinstate", "current"],
  ] as const) {
    meter
      .command(`${verb} <id>`)
      .description(verb === "deprecate" ? "mark a meter deprecated" : "mark a deprecated meter current again")
      .action(async (id: string, _o: unknown, cmd: Command) =>
        withClient(cmd, async (c, g) =>
          printObject(await c.request<Meter>("PATCH", path(id), { status }), g),
        ),
      );
  }
}
