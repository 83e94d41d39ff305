import type { Command } from "commander";
import type { Directory } from "../../directories/repository.js";
import { addListOptions, fetchList, withClient } from "../context.js";
import { type Column, printObject, printRows } from "../output.js";

const columns: Column<Directory>[] = [
  ["ID", (d) => d.id],
  ["DISPLAY NAME", (d) => d.displayName],
  ["CREATED", (d) => d.createdAt],
];

export function directoryCommand(program: Command): void {
  const dir = program
    .command("directory")
    .description("directories (tenants), identified by their tenant id");

  dir
    .command("create")
    .description("create a directory")
    .requiredOption("--id <guid>", "the identity provider's tenant id")
    .requiredOption("--display-name <name>", "display name")
    .action(async (o: { id: string; displayName: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(
          await c.request<Directory>("POST", "/api/v1/directories", { id: o.id, displayName: o.displayName }),
          g,
        ),
      ),
    );

  dir
    .command("get <id>")
    .description("show a directory")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(await c.request<Directory>("GET", `/api/v1/directories/${encodeURIComponent(id)}`), g),
      ),
    );

  addListOptions(dir.command("list").description("list directories")).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<Directory>(c, "/api/v1/directories", {}, o);
      printRows(page.items, columns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );

  dir
    .command("update <id>")
    .description("rename a directory")
    .requiredOption("--display-name <name>", "new display name")
    .action(async (id: string, o: { displayName: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(
          await c.request<Directory>("PATCH", `/api/v1/directories/${encodeURIComponent(id)}`, {
            displayName: o.displayName,
          }),
          g,
        ),
      ),
    );

  dir
    .command("delete <id>")
    .description("delete a directory that has no subscriptions")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", `/api/v1/directories/${encodeURIComponent(id)}`);
        process.stderr.write(`deleted directory ${id}\n`);
      }),
    );
}
