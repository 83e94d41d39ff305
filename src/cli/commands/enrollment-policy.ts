import type { Command } from "commander";
import type { EnrollmentPolicyView } from "../../auth/policies.js";
import { withClient } from "../context.js";
import { CliError } from "../errors.js";
import { printObject } from "../output.js";

const path = (id: string) => `/api/v1/enrollment-policies/${encodeURIComponent(id)}`;

function onOff(flag: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === "on" || v === "true") return true;
  if (v === "off" || v === "false") return false;
  throw new CliError(`${flag}: expected on or off, got '${v}'.`, 2);
}

/** `tally enrollment-policy get|set`: who in an enterprise enrollment may see charges. */
export function enrollmentPolicyCommand(program: Command): void {
  const pol = program
    .command("enrollment-policy")
    .description("enterprise enrollment policies: may department admins / account owners see charges");

  pol
    .command("get <enrollmentId>")
    .description("show an enrollment's policies")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => printObject(await c.request<EnrollmentPolicyView>("GET", path(id)), g)),
    );

  pol
    .command("set <enrollmentId>")
    .description("change an enrollment's policies")
    .option("--department-admins-view-charges <on|off>", "department administrators can view charges")
    .option("--account-owners-view-charges <on|off>", "account owners can view charges")
    .action(
      async (
        id: string,
        o: { departmentAdminsViewCharges?: string; accountOwnersViewCharges?: string },
        cmd: Command,
      ) => {
        const da = onOff("--department-admins-view-charges", o.departmentAdminsViewCharges);
        const ao = onOff("--account-owners-view-charges", o.accountOwnersViewCharges);
        if (da === undefined && ao === undefined)
          throw new CliError(
            "give --department-admins-view-charges and/or --account-owners-view-charges.",
            2,
          );
        return withClient(cmd, async (c, g) =>
          printObject(
            await c.request<EnrollmentPolicyView>("PATCH", path(id), {
              departmentAdminsCanViewCharges: da,
              accountOwnersCanViewCharges: ao,
            }),
            g,
          ),
        );
      },
    );
}
