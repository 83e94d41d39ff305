import type { Command } from "commander";
import type { Source, SourceKey } from "../../sources/repository.js";
import { addListOptions, fetchList, withClient } from "../context.js";
import { type Column, printObject, printRows } from "../output.js";

const columns: Column<Source>[] = [
  ["ID", (s) => s.id],
  ["NAME", (s) => s.name],
  ["KIND", (s) => s.kind],
  ["CREATED", (s) => s.createdAt],
  ["DISABLED", (s) => s.disabledAt],
];

const path = (id: string) => `/api/v1/sources/${encodeURIComponent(id)}`;

export function sourceCommand(program: Command): void {
  const src = program
    .command("source")
    .description("resource providers that report usage, and their API keys");

  src
    .command("create <name>")
    .description("register a resource provider and print its API key (shown only once)")
    .option(
      "--kind <kind>",
      "provider (a resource provider) or bridge (another cloud's usage bridge)",
      "provider",
    )
    .action(async (name: string, o: { kind: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const created = await c.request<Source & { apiKey: string }>("POST", "/api/v1/sources", {
          name,
          ...(o.kind === "provider" ? {} : { kind: o.kind }),
        });
        printObject(created, g);
        if (!g.json)
          process.stderr.write(
            "Store the API key now: tally keeps only its hash and cannot show it again.\n",
          );
      }),
    );

  src
    .command("get <idOrName>")
    .description("show a source and its keys (prefixes only)")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const s = await c.request<Source & { keys: SourceKey[] }>("GET", path(id));
        if (g.json) return printObject(s, g);
        const { keys, ...rest } = s;
        printObject(rest, g);
        printRows(
          keys,
          [
            ["KEY ID", (k) => k.id],
            ["PREFIX", (k) => `${k.prefix}…`],
            ["CREATED", (k) => k.createdAt],
            ["EXPIRES", (k) => k.expiresAt],
            ["REVOKED", (k) => k.revokedAt],
          ],
          g,
        );
      }),
    );

  addListOptions(
    src.command("list").description("list sources").option("--include-disabled", "include deleted sources"),
  ).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<Source>(
        c,
        "/api/v1/sources",
        { includeDisabled: o.includeDisabled ? true : undefined },
        o,
      );
      printRows(page.items, columns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );

  src
    .command("rotate <idOrName>")
    .description("issue a new API key; earlier keys keep working for the grace period")
    .option("--grace <duration>", "how long earlier keys keep working (0s ends them now)", "24h")
    .action(async (id: string, o: { grace: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        printObject(await c.request("POST", `${path(id)}/keys`, { grace: o.grace }), g);
        if (!g.json)
          process.stderr.write(
            "Store the API key now: tally keeps only its hash and cannot show it again.\n",
          );
      }),
    );

  src
    .command("revoke <idOrName>")
    .description("revoke the source's keys now (all of them, or one with --key)")
    .option("--key <keyId>", "revoke only this key")
    .action(async (id: string, o: { key?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(
          await c.request(
            "DELETE",
            o.key ? `${path(id)}/keys/${encodeURIComponent(o.key)}` : `${path(id)}/keys`,
          ),
          g,
        ),
      ),
    );

  src
    .command("delete <idOrName>")
    .description("disable a source and revoke its keys (its usage stays)")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", path(id));
        process.stderr.write(`deleted source ${id}\n`);
      }),
    );
}
