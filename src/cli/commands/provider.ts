import type { Command } from "commander";
import type { Provider } from "../../providers/repository.js";
import { addListOptions, fetchList, withClient } from "../context.js";
import { type Column, printObject, printRows } from "../output.js";

const columns: Column<Provider>[] = [
  ["ID", (p) => p.id],
  ["DISPLAY NAME", (p) => p.displayName],
  ["PARENT", (p) => p.parentId ?? "(root)"],
  ["PROVIDER SUBSCRIPTION", (p) => p.subscriptionId],
];

const path = (id: string) => `/api/v1/providers/${encodeURIComponent(id)}`;

export function providerCommand(program: Command): void {
  const prov = program
    .command("provider")
    .description("the operator's root provider and delegated providers");

  prov
    .command("create")
    .description("create a delegated provider with its provider subscription")
    .requiredOption("--display-name <name>", "display name")
    .option("--id <id>", "provider id (default: a new GUID)")
    .option("--parent <id>", "parent provider (default: the operator)")
    .option("--directory <guid>", "directory of its provider subscription (default: the operator's)")
    .option("--subscription-id <guid>", "id of its provider subscription (default: a new GUID)")
    .action(
      async (
        o: { displayName: string; id?: string; parent?: string; directory?: string; subscriptionId?: string },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) =>
          printObject(
            await c.request<Provider>("POST", "/api/v1/providers", {
              displayName: o.displayName,
              id: o.id,
              parentId: o.parent,
              directoryId: o.directory,
              subscriptionId: o.subscriptionId,
            }),
            g,
          ),
        ),
    );

  prov
    .command("get <id>")
    .description("show a provider")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => printObject(await c.request<Provider>("GET", path(id)), g)),
    );

  addListOptions(
    prov
      .command("list")
      .description("list providers")
      .option("--parent <id>", "only the children of this provider"),
  ).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<Provider>(c, "/api/v1/providers", { parentId: o.parent }, o);
      printRows(page.items, columns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );

  prov
    .command("update <id>")
    .description("rename a provider")
    .requiredOption("--display-name <name>", "new display name")
    .action(async (id: string, o: { displayName: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(await c.request<Provider>("PATCH", path(id), { displayName: o.displayName }), g),
      ),
    );

  prov
    .command("delete <id>")
    .description("delete a delegated provider that offers nothing any more")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", path(id));
        process.stderr.write(`deleted provider ${id}\n`);
      }),
    );
}
