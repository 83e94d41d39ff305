import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { CustomerSubscription } from "../../bridge/customer-subscriptions.js";
import type { Registration } from "../../bridge/registration.js";
import { encodeRegistrationToken } from "../../bridge/token.js";
import type { ApiClient } from "../client.js";
import { withClient } from "../context.js";
import { CliError } from "../errors.js";
import { printObject, printRows } from "../output.js";

const path = (name: string) => `/api/v1/registrations/${encodeURIComponent(name)}`;

function onOff(flag: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === "on" || v === "true") return true;
  if (v === "off" || v === "false") return false;
  throw new CliError(`${flag}: expected on or off, got '${v}'.`, 2);
}

/**
 * The credential is read from a file (or standard input with `-`), never from the command line,
 * where other users of the machine could see it in the process list.
 */
function credentialFrom(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    throw new CliError(`--upstream-credential-file: cannot read ${file}: ${(e as Error).message}`, 2);
  }
  const v = text.trim();
  if (v === "") throw new CliError(`--upstream-credential-file: ${file} is empty.`, 2);
  return v;
}

/** The registration a command names, or the cloud's only one. */
export async function registrationName(c: ApiClient, name: string | undefined): Promise<string> {
  if (name !== undefined) return name;
  const { items } = await c.request<{ items: Registration[] }>("GET", "/api/v1/registrations");
  if (items.length === 0)
    throw new CliError("this cloud is not registered; run `tally registration create` first.");
  return items[0]!.name;
}

interface PropertyOptions {
  billingModel?: string;
  defaultSubscription?: string;
  reporting?: string;
  upstreamType?: string;
  upstreamUrl?: string;
  upstreamCredentialFile?: string;
}

const properties = (o: PropertyOptions) => ({
  billingModel: o.billingModel,
  defaultSubscriptionId: o.defaultSubscription,
  usageReportingEnabled: onOff("--reporting", o.reporting),
  upstreamType: o.upstreamType,
  upstreamUrl: o.upstreamUrl,
  upstreamCredential: credentialFrom(o.upstreamCredentialFile),
});

function withPropertyOptions(cmd: Command): Command {
  return cmd
    .option("--billing-model <model>", "PayAsYouUse, Capacity or Development")
    .option(
      "--default-subscription <guid>",
      "the upstream subscription unmapped tenants' usage is charged to",
    )
    .option("--reporting <on|off>", "usage reporting (PayAsYouUse cannot turn it off)")
    .option("--upstream-type <type>", "Tally (another tally's ingest API) or Https (a signed-body endpoint)")
    .option("--upstream-url <url>", "where the usage bridge sends usage")
    .option(
      "--upstream-credential-file <path>",
      "file holding the upstream credential ('-' reads standard input)",
    );
}

/** `tally registration …`: the cloud's registration with upstream commerce. */
export function registrationCommand(program: Command): void {
  const reg = program
    .command("registration")
    .description(
      "the cloud's registration: billing model, default subscription and the usage bridge's upstream",
    );

  withPropertyOptions(
    reg
      .command("create <name>")
      .description("register the cloud (one registration per cloud)")
      .option("--subscription <guid>", "the registration subscription (default: the default subscription)")
      .option("--resource-group <name>", "the registration's resource group", "azurestack")
      .option("--forward-from <time>", "first reported hour to forward (default: the current hour)"),
  ).action(
    async (
      name: string,
      o: PropertyOptions & { subscription?: string; resourceGroup: string; forwardFrom?: string },
      cmd: Command,
    ) => {
      if (o.billingModel === undefined || o.defaultSubscription === undefined)
        throw new CliError("give --billing-model and --default-subscription.", 2);
      const body = {
        name,
        ...properties(o),
        subscriptionId: o.subscription,
        resourceGroup: o.resourceGroup,
        forwardFrom: o.forwardFrom,
      };
      return withClient(cmd, async (c, g) =>
        printObject(await c.request<Registration>("POST", "/api/v1/registrations", body), g),
      );
    },
  );

  reg
    .command("get [name]")
    .description("show the registration (the credential is never shown)")
    .action(async (name: string | undefined, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(await c.request<Registration>("GET", path(await registrationName(c, name))), g),
      ),
    );

  withPropertyOptions(
    reg
      .command("update [name]")
      .description("change the registration; a change applies to the windows forwarded after it")
      .option("--clear-upstream-credential", "remove the stored credential"),
  ).action(
    async (
      name: string | undefined,
      o: PropertyOptions & { clearUpstreamCredential?: boolean },
      cmd: Command,
    ) => {
      const body: Record<string, unknown> = properties(o);
      if (o.clearUpstreamCredential) body.upstreamCredential = null;
      if (Object.values(body).every((v) => v === undefined))
        throw new CliError("give something to change.", 2);
      return withClient(cmd, async (c, g) =>
        printObject(await c.request<Registration>("PATCH", path(await registrationName(c, name)), body), g),
      );
    },
  );

  reg
    .command("delete <name>")
    .description("delete the registration: forwarding stops, undelivered batches are dropped")
    .action(async (name: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", path(name));
        process.stderr.write(`deleted registration ${name}\n`);
      }),
    );

  withPropertyOptions(
    reg
      .command("token")
      .description(
        "print a registration token (base64 JSON of the properties) for clients that register with one, such as the Azure SDK",
      ),
  ).action((o: PropertyOptions) => {
    const p = properties(o);
    const token = encodeRegistrationToken({
      ...(p.billingModel ? { billingModel: p.billingModel as "PayAsYouUse" } : {}),
      ...(p.defaultSubscriptionId ? { defaultSubscriptionId: p.defaultSubscriptionId } : {}),
      ...(p.usageReportingEnabled !== undefined ? { usageReportingEnabled: p.usageReportingEnabled } : {}),
      ...(p.upstreamType ? { upstreamType: p.upstreamType as "Tally" } : {}),
      ...(p.upstreamUrl ? { upstreamUrl: p.upstreamUrl } : {}),
      ...(p.upstreamCredential ? { upstreamCredential: p.upstreamCredential } : {}),
    });
    process.stdout.write(`${token}\n`);
  });

  const csColumns: [string, (c: CustomerSubscription) => unknown][] = [
    ["SUBSCRIPTION", (c) => c.id],
    ["TENANT", (c) => c.tenantId],
    ["UPDATED", (c) => c.updatedAt],
  ];
  const cs = program
    .command("customer-subscription")
    .description("tenants' customer (CSP) subscriptions: where each tenant's usage is charged upstream");
  const csPath = async (c: ApiClient, reg: string | undefined, id?: string) =>
    `${path(await registrationName(c, reg))}/customer-subscriptions${id ? `/${encodeURIComponent(id)}` : ""}`;

  cs.command("add <subscriptionId>")
    .description("charge a tenant's usage to this upstream subscription (replaces the tenant's previous one)")
    .requiredOption("--tenant <guid>", "the tenant's directory id")
    .option("--registration <name>", "the registration (default: the cloud's)")
    .action(async (id: string, o: { tenant: string; registration?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(
          await c.request<CustomerSubscription>("PUT", await csPath(c, o.registration, id), {
            tenantId: o.tenant,
          }),
          g,
        ),
      ),
    );

  cs.command("list")
    .description("list the customer subscriptions")
    .option("--registration <name>", "the registration (default: the cloud's)")
    .action(async (o: { registration?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printRows(
          (await c.request<{ items: CustomerSubscription[] }>("GET", await csPath(c, o.registration))).items,
          csColumns,
          g,
        ),
      ),
    );

  cs.command("get <subscriptionId>")
    .description("show a customer subscription")
    .option("--registration <name>", "the registration (default: the cloud's)")
    .action(async (id: string, o: { registration?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(await c.request<CustomerSubscription>("GET", await csPath(c, o.registration, id)), g),
      ),
    );

  cs.command("remove <subscriptionId>")
    .description("stop charging a tenant to this subscription: its usage goes to the default one again")
    .option("--registration <name>", "the registration (default: the cloud's)")
    .action(async (id: string, o: { registration?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", await csPath(c, o.registration, id));
        process.stderr.write(`removed customer subscription ${id}\n`);
      }),
    );
}
