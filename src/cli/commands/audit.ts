import type { Command } from "commander";
import type { AuditRecord } from "../../audit/repository.js";
import { addListOptions, fetchList, withClient } from "../context.js";
import { type Column, printRows } from "../output.js";

const columns: Column<AuditRecord>[] = [
  ["SEQ", (a) => a.seq],
  ["AT", (a) => a.at],
  ["PRINCIPAL", (a) => a.principalId],
  ["ACTION", (a) => a.action],
  ["TARGET", (a) => a.target],
  ["REQUEST", (a) => a.requestId],
];

/** `tally audit list`: the audit log, newest first. */
export function auditCommand(program: Command): void {
  const audit = program.command("audit").description("the audit log (append-only)");
  addListOptions(
    audit
      .command("list")
      .description("list audit entries, newest first")
      .option("--principal <id>", "only this principal's")
      .option("--action <action>", "only this action, e.g. roleAssignments/write")
      .option("--target <prefix>", "only targets starting with this, e.g. /subscriptions/")
      .option("--from <instant>", "from this ISO 8601 instant (inclusive)")
      .option("--to <instant>", "to this ISO 8601 instant (exclusive)"),
  ).action(async (o, cmd: Command) =>
    withClient(cmd, async (c, g) => {
      const page = await fetchList<AuditRecord>(
        c,
        "/api/v1/audit-log",
        { principalId: o.principal, action: o.action, target: o.target, from: o.from, to: o.to },
        o,
      );
      printRows(page.items, columns, g);
      if (!g.json && page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    }),
  );
}
