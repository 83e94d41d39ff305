import type { Command } from "commander";
import type { RoleAssignment } from "../../auth/repository.js";
import { addListOptions, fetchList, withClient } from "../context.js";
import { type Column, printObject, printRows } from "../output.js";

const columns: Column<RoleAssignment>[] = [
  ["ID", (a) => a.id],
  ["PRINCIPAL", (a) => a.principalId],
  ["ROLE", (a) => a.role],
  ["SCOPE", (a) => a.scope],
  ["CREATED", (a) => a.createdAt],
  ["BY", (a) => a.createdBy],
];

interface Definition {
  name: string;
  assignableScopes: string[];
  actions: string[];
  notActions: string[];
  policyActions: { policy: string; actions: string[] }[];
}

/** `tally role …`: role assignments (who holds which role where) and the built-in roles. */
export function roleCommand(program: Command): void {
  const role = program.command("role").description("role assignments and role definitions");

  role
    .command("assign")
    .description("give a principal a role at a scope")
    .requiredOption("--principal <id>", "the principal (token oid/sub)")
    .requiredOption("--role <name>", "role name, e.g. Owner, Reader, 'Billing account reader'")
    .requiredOption(
      "--scope <scope>",
      "/, /providers/ID, /subscriptions/GUID, /billingAccounts/ID, /enrollments/…",
    )
    .action(async (o: { principal: string; role: string; scope: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(
          await c.request<RoleAssignment>("POST", "/api/v1/role-assignments", {
            principalId: o.principal,
            role: o.role,
            scope: o.scope,
          }),
          g,
        ),
      ),
    );

  addListOptions(
    role
      .command("list")
      .description("list role assignments")
      .option("--principal <id>", "only this principal's")
      .option("--scope <scope>", "only those at exactly this scope"),
  ).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<RoleAssignment>(
        c,
        "/api/v1/role-assignments",
        { principalId: o.principal, scope: o.scope },
        o,
      );
      printRows(page.items, columns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );

  role
    .command("remove <id>")
    .description("revoke a role assignment")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", `/api/v1/role-assignments/${encodeURIComponent(id)}`);
        process.stderr.write(`removed role assignment ${id}\n`);
      }),
    );

  role
    .command("definitions")
    .description("list the built-in roles and the actions they permit")
    .action(async (_o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const defs = await c.request<{ items: Definition[] }>("GET", "/api/v1/role-definitions");
        printRows(
          defs.items,
          [
            ["ROLE", (d) => d.name],
            ["SCOPES", (d) => d.assignableScopes.join(", ")],
            ["ACTIONS", (d) => d.actions.join(" ")],
            ["NOT ACTIONS", (d) => d.notActions.join(" ")],
            [
              "BY POLICY",
              (d) => d.policyActions.map((p) => `${p.policy}: ${p.actions.join(" ")}`).join("; "),
            ],
          ],
          g,
        );
      }),
    );
}
