import { type Insertable, type Kysely, type Selectable, sql } from "kysely";
import { executePrepared, type Store } from "../storage/database.js";
import type {
  BillingAccountTable,
  BillingAssignmentTable,
  BillingDepartmentTable,
  BillingEnrollmentAccountTable,
  DB,
  InvoiceLineTable,
  InvoiceTable,
} from "../storage/schema.js";
import type { Part } from "./access.js";

export type BillingAccountRow = Selectable<BillingAccountTable>;
export type DepartmentRow = Selectable<BillingDepartmentTable>;
export type EnrollmentAccountRow = Selectable<BillingEnrollmentAccountTable>;
export type AssignmentRow = Selectable<BillingAssignmentTable>;
export type InvoiceRow = Selectable<InvoiceTable>;
export type InvoiceLineRow = Selectable<InvoiceLineTable>;

export const findAccount = (db: Kysely<DB>, id: string) =>
  db.selectFrom("billing_accounts").selectAll().where("id", "=", id).executeTakeFirst();

export function listAccountRows(
  db: Kysely<DB>,
  f: { ids?: readonly string[] | "all"; after?: string; limit: number; kind?: string },
) {
  let q = db.selectFrom("billing_accounts").selectAll().orderBy("id").limit(f.limit);
  if (f.ids !== undefined && f.ids !== "all") {
    if (f.ids.length === 0) return Promise.resolve([] as BillingAccountRow[]);
    q = q.where("id", "in", f.ids as string[]);
  }
  if (f.after !== undefined) q = q.where("id", ">", f.after);
  if (f.kind !== undefined) q = q.where("kind", "=", f.kind as BillingAccountRow["kind"]);
  return q.execute();
}

export const allAccountRows = (db: Kysely<DB>) =>
  db.selectFrom("billing_accounts").selectAll().orderBy("id").execute();

export const resellerAccountRows = (db: Kysely<DB>) =>
  db.selectFrom("billing_accounts").selectAll().where("kind", "=", "reseller").execute();

export const customerAccountOf = (db: Kysely<DB>, directoryId: string) =>
  db
    .selectFrom("billing_accounts")
    .selectAll()
    .where("kind", "=", "customer")
    .where("directory_id", "=", directoryId)
    .executeTakeFirst();

export const departmentRows = (db: Kysely<DB>, enrollmentId: string) =>
  db
    .selectFrom("billing_departments")
    .selectAll()
    .where("enrollment_id", "=", enrollmentId)
    .orderBy("id")
    .execute();

export const findDepartment = (db: Kysely<DB>, enrollmentId: string, id: string) =>
  db
    .selectFrom("billing_departments")
    .selectAll()
    .where("enrollment_id", "=", enrollmentId)
    .where("id", "=", id)
    .executeTakeFirst();

/**
 * Where an enrollment row lies in one of the caller's parts (`null`: the whole enrollment), so that
 * a department administrator's or account owner's queries are scoped here rather than filtered
 * afterwards. `department` and `account` name the row's columns.
 */
export function inParts(parts: readonly Part[] | null, department: string, account: string) {
  if (parts === null) return sql<boolean>`1 = 1`;
  if (parts.length === 0) return sql<boolean>`1 = 0`;
  const each = parts.map((p) =>
    p.accountId === undefined
      ? sql`${sql.ref(department)} = ${p.departmentId}`
      : sql`(${sql.ref(department)} = ${p.departmentId} and ${sql.ref(account)} = ${p.accountId})`,
  );
  return sql<boolean>`(${sql.join(each, sql` or `)})`;
}

export const enrollmentAccountRows = (db: Kysely<DB>, enrollmentId: string, parts: readonly Part[] | null) =>
  db
    .selectFrom("billing_enrollment_accounts")
    .selectAll()
    .where("enrollment_id", "=", enrollmentId)
    .where(inParts(parts, "department_id", "id"))
    .orderBy("id")
    .execute();

export const findEnrollmentAccount = (db: Kysely<DB>, enrollmentId: string, id: string) =>
  db
    .selectFrom("billing_enrollment_accounts")
    .selectAll()
    .where("enrollment_id", "=", enrollmentId)
    .where("id", "=", id)
    .executeTakeFirst();

export const findAssignment = (db: Kysely<DB>, subscriptionId: string) =>
  db
    .selectFrom("billing_assignments")
    .selectAll()
    .where("subscription_id", "=", subscriptionId)
    .executeTakeFirst();

export const assignmentsOfAccount = (db: Kysely<DB>, accountId: string) =>
  db
    .selectFrom("billing_assignments")
    .selectAll()
    .where("billing_account_id", "=", accountId)
    .orderBy("subscription_id")
    .execute();

export const allAssignments = (db: Kysely<DB>) => db.selectFrom("billing_assignments").selectAll().execute();

export async function upsertAssignment(db: Kysely<DB>, row: Insertable<BillingAssignmentTable>) {
  await db
    .insertInto("billing_assignments")
    .values(row)
    .onConflict((oc) =>
      oc.column("subscription_id").doUpdateSet({
        billing_account_id: row.billing_account_id,
        department_id: row.department_id ?? null,
        account_id: row.account_id ?? null,
        created_at: row.created_at,
      }),
    )
    .execute();
}

export const findInvoice = (db: Kysely<DB>, accountId: string, id: string) =>
  db
    .selectFrom("invoices")
    .selectAll()
    .where("billing_account_id", "=", accountId)
    .where("id", "=", id)
    .executeTakeFirst();

export const invoiceOfPeriod = (db: Kysely<DB>, accountId: string, period: string) =>
  db
    .selectFrom("invoices")
    .selectAll()
    .where("billing_account_id", "=", accountId)
    .where("period", "=", period)
    .executeTakeFirst();

export const invoiceRowsOfAccount = (db: Kysely<DB>, accountId: string) =>
  db
    .selectFrom("invoices")
    .selectAll()
    .where("billing_account_id", "=", accountId)
    .orderBy("period", "desc")
    .execute();

export const linesOfInvoice = (db: Kysely<DB>, invoiceId: string, parts: readonly Part[] | null = null) =>
  db
    .selectFrom("invoice_lines")
    .selectAll()
    .where("invoice_id", "=", invoiceId)
    .where(inParts(parts, "department_id", "account_id"))
    .orderBy("line_no")
    .execute();

/**
 * The accounts' invoices of the periods [from, period) and their lines charging usage periods from
 * `from` on: what corrections are computed against (an invoice of period X charges no usage after
 * X).
 */
export async function earlierInvoices(
  store: Store,
  accountIds: readonly string[],
  period: string,
  from: string,
): Promise<{
  periods: { accountId: string; period: string }[];
  lines: (InvoiceLineRow & { accountId: string })[];
}> {
  if (accountIds.length === 0) return { periods: [], lines: [] };
  // Invoices and their lines in one statement (one snapshot, one round trip: an estimate waits on
  // it); an invoice without such lines comes once, with null line columns.
  const one = accountIds.length === 1;
  const query = store.db
    .selectFrom("invoices as i")
    .leftJoin("invoice_lines as l", (j) =>
      j.onRef("l.invoice_id", "=", "i.id").on("l.usage_period", ">=", from),
    )
    .selectAll("l")
    .select(["i.id as invoiceId", "i.billing_account_id as accountId", "i.period as invoicePeriod"])
    .where("i.billing_account_id", one ? "=" : "in", one ? accountIds[0]! : (accountIds as string[]))
    .where("i.period", "<", period)
    .where("i.period", ">=", from);
  // One account's (an estimate's) as a named statement: its planning costs more than its execution.
  const rows = one ? await executePrepared(store, query) : await query.execute();
  const periods = new Map<string, { accountId: string; period: string }>();
  const lines: (InvoiceLineRow & { accountId: string })[] = [];
  for (const { invoiceId, invoicePeriod, ...r } of rows) {
    periods.set(invoiceId, { accountId: r.accountId, period: invoicePeriod });
    if (r.invoice_id !== null) lines.push(r as InvoiceLineRow & { accountId: string });
  }
  return { periods: [...periods.values()], lines };
}

const LINE_COLUMNS = [
  "invoice_id",
  "line_no",
  "kind",
  "charge",
  "description",
  "subscription_id",
  "subscription_name",
  "offer_id",
  "meter_id",
  "price_sheet_id",
  "tier",
  "quantity",
  "list_unit_price",
  "unit_price",
  "amount",
  "usage_period",
  "usage_start",
  "usage_end",
  "department_id",
  "account_id",
  "cost_center",
] as const;
const LINE_TYPES: Record<(typeof LINE_COLUMNS)[number], string> = {
  invoice_id: "text",
  line_no: "integer",
  kind: "text",
  charge: "text",
  description: "text",
  subscription_id: "text",
  subscription_name: "text",
  offer_id: "text",
  meter_id: "text",
  price_sheet_id: "text",
  tier: "text",
  quantity: "text",
  list_unit_price: "text",
  unit_price: "text",
  amount: "text",
  usage_period: "text",
  usage_start: "bigint",
  usage_end: "bigint",
  department_id: "text",
  account_id: "text",
  cost_center: "text",
};

/**
 * Inserts invoice lines inside the caller's transaction, fast: on SQLite one prepared statement
 * run per row on the transaction's connection, on PostgreSQL one `unnest` insert per 10,000 rows.
 */
export async function insertLines(
  store: Store,
  trx: Kysely<DB>,
  rows: readonly Insertable<InvoiceLineTable>[],
): Promise<void> {
  if (rows.length === 0) return;
  const value = (r: Insertable<InvoiceLineTable>, c: (typeof LINE_COLUMNS)[number]) => r[c] ?? null;
  if (store.sqlite) {
    const handle = store.sqlite;
    const stmt = handle.prepare(
      `insert into invoice_lines (${LINE_COLUMNS.join(", ")}) values (${LINE_COLUMNS.map(() => "?").join(", ")})`,
    );
    // The caller's transaction holds SQLite's only connection (Kysely's mutex): the statement runs inside it.
    for (const r of rows) stmt.run(...LINE_COLUMNS.map((c) => value(r, c)));
    return;
  }
  for (let i = 0; i < rows.length; i += 10_000) {
    const part = rows.slice(i, i + 10_000);
    const arrays = LINE_COLUMNS.map((c) => sql`${part.map((r) => value(r, c))}::${sql.raw(LINE_TYPES[c])}[]`);
    await sql`insert into invoice_lines (${sql.raw(LINE_COLUMNS.join(", "))})
      select * from unnest(${sql.join(arrays)})`.execute(trx);
  }
}

/** Takes the next invoice number of an issuer; the counter row is locked until the transaction ends. */
export async function nextInvoiceNumber(db: Kysely<DB>, issuer: string): Promise<number> {
  await db
    .insertInto("invoice_counters")
    .values({ issuer_name: issuer, last_number: 0 })
    .onConflict((oc) => oc.column("issuer_name").doNothing())
    .execute();
  const r = await db
    .updateTable("invoice_counters")
    .set({ last_number: sql`last_number + 1` })
    .where("issuer_name", "=", issuer)
    .returning("last_number")
    .executeTakeFirstOrThrow();
  return Number(r.last_number);
}
