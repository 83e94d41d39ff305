import type { Command } from "commander";
import type { Subscription } from "../../subscriptions/repository.js";
import { addListOptions, fetchList, withClient } from "../context.js";
import { type Column, printObject, printRows } from "../output.js";

const columns: Column<Subscription>[] = [
  ["ID", (s) => s.id],
  ["DISPLAY NAME", (s) => s.displayName],
  ["DIRECTORY", (s) => s.directoryId],
  ["PROVIDER", (s) => s.providerId],
  ["OFFER", (s) => s.offerId],
  ["STATE", (s) => s.state],
];

const path = (id: string) => `/api/v1/subscriptions/${encodeURIComponent(id)}`;

export function subscriptionCommand(program: Command): void {
  const sub = program.command("subscription").description("subscriptions: what consumes resources");

  sub
    .command("create")
    .description("create a subscription")
    .requiredOption("--display-name <name>", "display name")
    .requiredOption("--directory <guid>", "the directory it belongs to")
    .option("--id <guid>", "subscription id (default: a new GUID)")
    .option("--provider <id>", "offering provider (default: the operator)")
    .option("--offer <id>", "offer id (default: default)")
    .option("--state <state>", "Active or Disabled")
    .action(
      async (
        o: {
          displayName: string;
          directory: string;
          id?: string;
          provider?: string;
          offer?: string;
          state?: string;
        },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) =>
          printObject(
            await c.request<Subscription>("POST", "/api/v1/subscriptions", {
              id: o.id,
              displayName: o.displayName,
              directoryId: o.directory,
              providerId: o.provider,
              offerId: o.offer,
              state: o.state,
            }),
            g,
          ),
        ),
    );

  sub
    .command("get <id>")
    .description("show a subscription")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => printObject(await c.request<Subscription>("GET", path(id)), g)),
    );

  addListOptions(
    sub
      .command("list")
      .description("list subscriptions")
      .option("--directory <guid>", "only this directory's")
      .option("--provider <id>", "only those this provider offers")
      .option("--state <states>", "comma-separated states (default: Active,Disabled)"),
  ).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<Subscription>(
        c,
        "/api/v1/subscriptions",
        { directoryId: o.directory, providerId: o.provider, state: o.state },
        o,
      );
      printRows(page.items, columns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );

  sub
    .command("update <id>")
    .description("change a subscription's name, offer or state")
    .option("--display-name <name>", "new display name")
    .option("--offer <id>", "new offer id")
    .option("--state <state>", "Active, Disabled or Deleted")
    .action(async (id: string, o: { displayName?: string; offer?: string; state?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(
          await c.request<Subscription>("PATCH", path(id), {
            displayName: o.displayName,
            offerId: o.offer,
            state: o.state,
          }),
          g,
        ),
      ),
    );

  sub
    .command("delete <id>")
    .description("mark a subscription Deleted (its usage stays)")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => printObject(await c.request<Subscription>("DELETE", path(id)), g)),
    );
}
