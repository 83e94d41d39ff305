import type { Command } from "commander";
import type { AccountView, DepartmentView, EnrollmentAccountView } from "../../billing/accounts.js";
import type { PeriodView } from "../../billing/invoices.js";
import type { EstimateView, InvoiceLine, InvoiceView } from "../../domain/billing/types.js";
import type { ApiClient } from "../client.js";
import {
  addListOptions,
  fetchList,
  type GlobalOptions,
  type ListOptions,
  query,
  withClient,
} from "../context.js";
import { CliError } from "../errors.js";
import { type Column, printObject, printRows } from "../output.js";
import { addBillingDownloadCommand } from "./billing-download.js";

const accountColumns: Column<AccountView>[] = [
  ["ID", (a) => a.id],
  ["KIND", (a) => a.kind],
  ["NAME", (a) => a.displayName],
  ["CURRENCY", (a) => a.currency],
  ["TAX %", (a) => a.taxRate ?? ""],
  ["ISSUER", (a) => a.issuerName],
  ["BILLS", (a) => a.directoryId ?? a.providerId ?? ""],
  ["FIRST PERIOD", (a) => a.firstPeriod],
];

const lineColumns: Column<InvoiceLine>[] = [
  ["#", (l) => l.lineNo],
  ["KIND", (l) => l.kind],
  ["SUBSCRIPTION", (l) => l.subscriptionName ?? ""],
  ["DESCRIPTION", (l) => l.description],
  ["PERIOD", (l) => l.usagePeriod ?? ""],
  ["QUANTITY", (l) => l.quantity ?? ""],
  ["UNIT PRICE", (l) => l.unitPrice ?? ""],
  ["AMOUNT", (l) => l.amount ?? "(hidden)"],
];

const invoiceColumns: Column<InvoiceView>[] = [
  ["ID", (i) => i.id],
  ["PERIOD", (i) => i.period],
  ["STATUS", (i) => i.status],
  ["NUMBER", (i) => i.number ?? ""],
  ["SUBTOTAL", (i) => i.subtotal ?? "(hidden)"],
  ["TAX", (i) => i.tax ?? "(hidden)"],
  ["TOTAL", (i) => i.total ?? "(hidden)"],
  ["CURRENCY", (i) => i.currency],
  ["LINES", (i) => i.lines.length],
];

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;
const enc = encodeURIComponent;
const base = (account: string) => `/api/v1/billing-accounts/${enc(account)}`;

/** An invoice or estimate: its header, then its lines as a table (or all of it as JSON). */
function printDocument(doc: InvoiceView | EstimateView, g: GlobalOptions): void {
  if (g.json) {
    printObject(doc, g);
    return;
  }
  const { lines, unpriced, ...head } = doc;
  printObject(head, g);
  process.stdout.write("\n");
  printRows(lines, lineColumns, g);
  if (unpriced?.length)
    process.stdout.write(
      `${unpriced.length} unpriced usage item(s): the amounts leave them out (--json lists them)\n`,
    );
}

function addressOf(o: { address?: string }): Record<string, string> | undefined {
  if (o.address === undefined) return undefined;
  try {
    return JSON.parse(o.address) as Record<string, string>;
  } catch {
    throw new CliError(`--address must be a JSON object, e.g. '{"city":"Paris","country":"FR"}'`, 2);
  }
}

const checkPeriod = (p: string) => {
  if (!PERIOD.test(p)) throw new CliError(`period '${p}' must be a month written YYYY-MM`, 2);
  return p;
};

/** `tally billing …`: billing accounts, enrollments, periods, estimates and invoices (docs/billing.md). */
export function billingCommand(program: Command): Command {
  const billing = program
    .command("billing")
    .description("billing accounts, enrollment departments and accounts, periods, estimates and invoices");

  const accounts = billing
    .command("accounts")
    .description("billing accounts: customers, resellers, enrollments");
  accounts
    .command("create")
    .description("create a billing account")
    .requiredOption("--kind <kind>", "customer, reseller or enrollment")
    .requiredOption("--name <name>", "display name")
    .requiredOption("--currency <code>", "ISO 4217 currency, e.g. USD")
    .option("--id <id>", "the account id (an enrollment's is its enrollment id); generated when omitted")
    .option("--directory <id>", "customer: the directory billed")
    .option("--provider <id>", "reseller: the delegated provider billed")
    .option("--tax-rate <percent>", "tax rate in percent, e.g. 19 or 7.25")
    .option("--issuer <name>", "invoice issuer (numbering is per issuer)")
    .option("--address <json>", "billing address as JSON")
    .option("--first-period <YYYY-MM>", "first billing period (default: the current one)")
    .action(
      async (
        o: {
          kind: string;
          name: string;
          currency: string;
          id?: string;
          directory?: string;
          provider?: string;
          taxRate?: string;
          issuer?: string;
          address?: string;
          firstPeriod?: string;
        },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) => {
          const body = {
            kind: o.kind,
            displayName: o.name,
            currency: o.currency,
            ...(o.id !== undefined ? { id: o.id } : {}),
            ...(o.directory !== undefined ? { directoryId: o.directory } : {}),
            ...(o.provider !== undefined ? { providerId: o.provider } : {}),
            ...(o.taxRate !== undefined ? { taxRate: o.taxRate } : {}),
            ...(o.issuer !== undefined ? { issuerName: o.issuer } : {}),
            ...(o.address !== undefined ? { address: addressOf(o) } : {}),
            ...(o.firstPeriod !== undefined ? { firstPeriod: checkPeriod(o.firstPeriod) } : {}),
          };
          printObject(await c.request<AccountView>("POST", "/api/v1/billing-accounts", body), g);
        }),
    );
  addListOptions(accounts.command("list").description("list the billing accounts you may see"))
    .option("--kind <kind>", "customer, reseller or enrollment")
    .action(async (o: ListOptions & { kind?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = await fetchList<AccountView>(c, "/api/v1/billing-accounts", { kind: o.kind }, o);
        printRows(page.items, accountColumns, g);
      }),
    );
  accounts
    .command("get <id>")
    .description("show a billing account")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => printObject(await c.request<AccountView>("GET", base(id)), g)),
    );
  accounts
    .command("update <id>")
    .description("change an account's settings (closed invoices keep theirs)")
    .option("--name <name>", "display name")
    .option("--tax-rate <percent>", "tax rate in percent; 'none' removes it")
    .option("--issuer <name>", "invoice issuer")
    .option("--address <json>", "billing address as JSON; 'null' removes it")
    .action(
      async (
        id: string,
        o: { name?: string; taxRate?: string; issuer?: string; address?: string },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) => {
          const body = {
            ...(o.name !== undefined ? { displayName: o.name } : {}),
            ...(o.taxRate !== undefined ? { taxRate: o.taxRate === "none" ? null : o.taxRate } : {}),
            ...(o.issuer !== undefined ? { issuerName: o.issuer } : {}),
            ...(o.address !== undefined ? { address: o.address === "null" ? null : addressOf(o) } : {}),
          };
          if (Object.keys(body).length === 0) throw new CliError("give at least one setting to change", 2);
          printObject(await c.request<AccountView>("PATCH", base(id), body), g);
        }),
    );

  const departments = billing.command("departments").description("an enrollment's departments");
  departments
    .command("create <enrollment> <id>")
    .description("add a department to an enrollment")
    .requiredOption("--name <name>", "display name")
    .option("--cost-center <code>", "cost center for chargeback")
    .action(async (enrollment: string, id: string, o: { name: string; costCenter?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(
          await c.request<DepartmentView>("POST", `${base(enrollment)}/departments`, {
            id,
            displayName: o.name,
            ...(o.costCenter !== undefined ? { costCenter: o.costCenter } : {}),
          }),
          g,
        ),
      ),
    );
  departments
    .command("list <enrollment>")
    .description("list an enrollment's departments")
    .action(async (enrollment: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = await c.request<{ items: DepartmentView[] }>("GET", `${base(enrollment)}/departments`);
        printRows(
          page.items,
          [
            ["ID", (d) => d.id],
            ["NAME", (d) => d.displayName],
            ["COST CENTER", (d) => d.costCenter ?? ""],
          ],
          g,
        );
      }),
    );

  const eaccounts = billing
    .command("enrollment-accounts")
    .description("an enrollment's accounts (in departments)");
  eaccounts
    .command("create <enrollment> <id>")
    .description("add an account to a department of an enrollment")
    .requiredOption("--department <id>", "the department")
    .requiredOption("--name <name>", "display name")
    .option("--cost-center <code>", "cost center (default: the department's)")
    .action(
      async (
        enrollment: string,
        id: string,
        o: { department: string; name: string; costCenter?: string },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) =>
          printObject(
            await c.request<EnrollmentAccountView>("POST", `${base(enrollment)}/enrollment-accounts`, {
              id,
              departmentId: o.department,
              displayName: o.name,
              ...(o.costCenter !== undefined ? { costCenter: o.costCenter } : {}),
            }),
            g,
          ),
        ),
    );
  eaccounts
    .command("list <enrollment>")
    .description("list an enrollment's accounts")
    .action(async (enrollment: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = await c.request<{ items: EnrollmentAccountView[] }>(
          "GET",
          `${base(enrollment)}/enrollment-accounts`,
        );
        printRows(
          page.items,
          [
            ["ID", (a) => a.id],
            ["DEPARTMENT", (a) => a.departmentId],
            ["NAME", (a) => a.displayName],
            ["COST CENTER", (a) => a.costCenter ?? ""],
          ],
          g,
        );
      }),
    );

  billing
    .command("assign <account> <subscription>")
    .description(
      "bill a subscription to an account explicitly (an enrollment needs --department and --account)",
    )
    .option("--department <id>", "enrollment: the department")
    .option("--account <id>", "enrollment: the enrollment account")
    .action(
      async (account: string, sub: string, o: { department?: string; account?: string }, cmd: Command) =>
        withClient(cmd, async (c, g) =>
          printObject(
            await c.request("PUT", `${base(account)}/subscriptions/${enc(sub)}`, {
              ...(o.department !== undefined ? { departmentId: o.department } : {}),
              ...(o.account !== undefined ? { accountId: o.account } : {}),
            }),
            g,
          ),
        ),
    );
  billing
    .command("unassign <account> <subscription>")
    .description("remove an explicit assignment (the resolution rule applies again)")
    .action(async (account: string, sub: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", `${base(account)}/subscriptions/${enc(sub)}`);
        process.stderr.write(`unassigned ${sub} from ${account}\n`);
      }),
    );
  billing
    .command("resolve <subscription>")
    .description("which billing account bills a subscription, and why")
    .action(async (sub: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printObject(await c.request("GET", `/api/v1/subscriptions/${enc(sub)}/billing-account`), g),
      ),
    );
  addListOptions(billing.command("unbilled").description("subscriptions no billing account bills")).action(
    async (o: ListOptions, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = await fetchList<{
          id: string;
          displayName: string;
          directoryId: string;
          providerId: string;
        }>(c, "/api/v1/billing/unbilled-subscriptions", {}, o);
        printRows(
          page.items,
          [
            ["ID", (s) => s.id],
            ["NAME", (s) => s.displayName],
            ["DIRECTORY", (s) => s.directoryId],
            ["PROVIDER", (s) => s.providerId],
          ],
          g,
        );
      }),
  );

  billing
    .command("periods <account>")
    .description("the open period and the last six closed ones (--all: every period)")
    .option("--all", "every period since the account's first")
    .action(async (account: string, o: { all?: boolean }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = await c.request<{ items: PeriodView[] }>(
          "GET",
          `${base(account)}/periods${query({ all: o.all ? "true" : undefined })}`,
        );
        printRows(
          page.items,
          [
            ["PERIOD", (p) => p.period],
            ["STATUS", (p) => p.status],
            ["INVOICE", (p) => p.invoiceId ?? ""],
          ],
          g,
        );
      }),
    );
  billing
    .command("estimate <account>")
    .description("the open period's charges so far (an estimate: the final invoice may differ)")
    .action(async (account: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printDocument(await c.request<EstimateView>("GET", `${base(account)}/estimate`), g),
      ),
    );
  addListOptions(billing.command("invoices <account>").description("an account's invoices, newest first"))
    .option("--status <status>", "draft or finalized")
    .action(async (account: string, o: ListOptions & { status?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = await fetchList<InvoiceView>(c, `${base(account)}/invoices`, { status: o.status }, o);
        printRows(page.items, invoiceColumns, g);
      }),
    );
  billing
    .command("invoice <account> <invoice>")
    .description("show an invoice with its lines")
    .action(async (account: string, invoice: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) =>
        printDocument(await c.request<InvoiceView>("GET", `${base(account)}/invoices/${enc(invoice)}`), g),
      ),
    );
  billing
    .command("close <account> <period>")
    .description("close a period (YYYY-MM) into a draft invoice; closing again shows the same invoice")
    .action(async (account: string, period: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c: ApiClient, g) =>
        printDocument(
          await c.request<InvoiceView>("POST", `${base(account)}/periods/${checkPeriod(period)}/close`),
          g,
        ),
      ),
    );
  billing
    .command("finalize <account> <invoice>")
    .description("finalize a draft: number it and freeze it")
    .action(async (account: string, invoice: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const inv = await c.request<InvoiceView>(
          "POST",
          `${base(account)}/invoices/${enc(invoice)}/finalize`,
        );
        if (g.json) printObject(inv, g);
        else
          process.stdout.write(
            `finalized ${inv.id} as ${inv.number} (${inv.period}, total ${inv.total ?? "hidden"} ${inv.currency})\n`,
          );
      }),
    );
  billing
    .command("discard <account> <invoice>")
    .description("discard a draft so that a new close recomputes it")
    .action(async (account: string, invoice: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (c) => {
        await c.request("DELETE", `${base(account)}/invoices/${enc(invoice)}`);
        process.stderr.write(`discarded ${invoice}\n`);
      }),
    );
  addBillingDownloadCommand(billing);
  return billing;
}
