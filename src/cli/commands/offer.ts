import type { Command } from "commander";
import type { Offer } from "../../offers/repository.js";
import { addListOptions, fetchList, withClient } from "../context.js";
import { type Column, printObject, printRows } from "../output.js";

const columns: Column<Offer>[] = [
  ["ID", (o) => o.id],
  ["DISPLAY NAME", (o) => o.displayName],
  ["PROVIDER", (o) => o.providerId],
];

const path = (id: string) => `/api/v1/offers/${encodeURIComponent(id)}`;

/** `tally offer …`: what subscriptions are sold under. */
export function offerCommand(program: Command): void {
  const offer = program.command("offer").description("offers: what subscriptions are sold under");

  offer
    .command("create")
    .description("create an offer")
    .requiredOption("--id <id>", "durable offer id, e.g. MS-AZR-0003P or your own")
    .requiredOption("--display-name <name>", "display name")
    .option("--provider <id>", "owning provider (default: the operator)")
    .action(async (o: { id: string; displayName: string; provider?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(
          await c.request<Offer>("POST", "/api/v1/offers", {
            id: o.id,
            displayName: o.displayName,
            providerId: o.provider,
          }),
          g,
        ),
      ),
    );

  offer
    .command("get <id>")
    .description("show an offer")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => printObject(await c.request<Offer>("GET", path(id)), g)),
    );

  addListOptions(
    offer.command("list").description("list offers").option("--provider <id>", "only this provider's"),
  ).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<Offer>(c, "/api/v1/offers", { providerId: o.provider }, o);
      printRows(page.items, columns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );

  offer
    .command("update <id>")
    .description("rename an offer")
    .requiredOption("--display-name <name>", "new display name")
    .action(async (id: string, o: { displayName: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(await c.request<Offer>("PATCH", path(id), { displayName: o.displayName }), g),
      ),
    );

  offer
    .command("delete <id>")
    .description("delete an offer no subscription is on, with its price sheets")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", path(id));
        process.stderr.write(`deleted offer ${id}\n`);
      }),
    );
}
