import { sql } from "kysely";
import { type AnyDb, isPg } from "./util.js";

/**
 * Billing.
 *
 * - `billing_accounts`: who is invoiced: a customer (one directory), a reseller (a delegated
 *   provider) or an enterprise enrollment (whose id is also the enrollment id of the
 *   `/enrollments/{id}` scopes). A directory has at most one customer account, a provider at most
 *   one reseller account (unique indexes; the other kind leaves the column null).
 * - `billing_departments`, `billing_enrollment_accounts`: an enrollment's chargeback tree.
 * - `billing_assignments`: explicit subscription → account mappings, keyed by subscription so that
 *   a subscription can never be explicitly in two accounts.
 * - `invoices` / `invoice_lines`: one invoice per account and period (`unique`), which makes
 *   closing idempotent; amounts and quantities are exact decimal text. Finalized invoices and their
 *   lines are immutable: triggers refuse every change, whatever the code path.
 * - `invoice_counters`: the last invoice number per issuer, bumped in the finalizing transaction.
 */
export async function up(db: AnyDb): Promise<void> {
  const pg = isPg(db);
  await db.schema
    .createTable("billing_accounts")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('customer', 'reseller', 'enrollment')`))
    .addColumn("display_name", "text", (c) => c.notNull())
    .addColumn("currency", "text", (c) => c.notNull())
    .addColumn("tax_rate", "text")
    .addColumn("issuer_name", "text", (c) => c.notNull())
    .addColumn("address", "text")
    .addColumn("directory_id", "text", (c) => c.references("directories.id"))
    .addColumn("provider_id", "text", (c) => c.references("providers.id"))
    .addColumn("first_period", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("billing_accounts_directory")
    .on("billing_accounts")
    .column("directory_id")
    .unique()
    .execute();
  await db.schema
    .createIndex("billing_accounts_provider")
    .on("billing_accounts")
    .column("provider_id")
    .unique()
    .execute();

  await db.schema
    .createTable("billing_departments")
    .addColumn("enrollment_id", "text", (c) => c.notNull().references("billing_accounts.id"))
    .addColumn("id", "text", (c) => c.notNull())
    .addColumn("display_name", "text", (c) => c.notNull())
    .addColumn("cost_center", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("billing_departments_pk", ["enrollment_id", "id"])
    .execute();

  await db.schema
    .createTable("billing_enrollment_accounts")
    .addColumn("enrollment_id", "text", (c) => c.notNull())
    .addColumn("id", "text", (c) => c.notNull())
    .addColumn("department_id", "text", (c) => c.notNull())
    .addColumn("display_name", "text", (c) => c.notNull())
    .addColumn("cost_center", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("billing_enrollment_accounts_pk", ["enrollment_id", "id"])
    .addForeignKeyConstraint(
      "billing_enrollment_accounts_department",
      ["enrollment_id", "department_id"],
      "billing_departments",
      ["enrollment_id", "id"],
    )
    .execute();

  await db.schema
    .createTable("billing_assignments")
    .addColumn("subscription_id", "text", (c) => c.primaryKey().references("subscriptions.id"))
    .addColumn("billing_account_id", "text", (c) => c.notNull().references("billing_accounts.id"))
    .addColumn("department_id", "text")
    .addColumn("account_id", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("billing_assignments_account")
    .on("billing_assignments")
    .column("billing_account_id")
    .execute();

  await db.schema
    .createTable("invoices")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("billing_account_id", "text", (c) => c.notNull().references("billing_accounts.id"))
    .addColumn("period", "text", (c) => c.notNull())
    .addColumn("period_start", "bigint", (c) => c.notNull())
    .addColumn("period_end", "bigint", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(sql`status in ('draft', 'finalized')`))
    .addColumn("number", "text")
    .addColumn("issuer_name", "text", (c) => c.notNull())
    .addColumn("currency", "text", (c) => c.notNull())
    .addColumn("tax_rate", "text")
    .addColumn("subtotal", "text", (c) => c.notNull())
    .addColumn("tax", "text", (c) => c.notNull())
    .addColumn("total", "text", (c) => c.notNull())
    .addColumn("complete", "integer", (c) => c.notNull())
    .addColumn("unpriced", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("finalized_at", "bigint")
    .addUniqueConstraint("invoices_account_period", ["billing_account_id", "period"])
    .addUniqueConstraint("invoices_issuer_number", ["issuer_name", "number"])
    .execute();
  await db.schema.createIndex("invoices_status").on("invoices").columns(["status", "created_at"]).execute();

  await db.schema
    .createTable("invoice_lines")
    .addColumn("invoice_id", "text", (c) => c.notNull().references("invoices.id"))
    .addColumn("line_no", "integer", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("charge", "text", (c) => c.notNull())
    .addColumn("description", "text", (c) => c.notNull())
    .addColumn("subscription_id", "text")
    .addColumn("subscription_name", "text")
    .addColumn("offer_id", "text")
    .addColumn("meter_id", "text")
    .addColumn("price_sheet_id", "text")
    .addColumn("tier", "text")
    .addColumn("quantity", "text")
    .addColumn("list_unit_price", "text")
    .addColumn("unit_price", "text")
    .addColumn("amount", "text", (c) => c.notNull())
    .addColumn("usage_period", "text")
    .addColumn("usage_start", "bigint")
    .addColumn("usage_end", "bigint")
    .addColumn("department_id", "text")
    .addColumn("account_id", "text")
    .addColumn("cost_center", "text")
    .addPrimaryKeyConstraint("invoice_lines_pk", ["invoice_id", "line_no"])
    .execute();

  await db.schema
    .createTable("invoice_counters")
    .addColumn("issuer_name", "text", (c) => c.primaryKey())
    .addColumn("last_number", "bigint", (c) => c.notNull())
    .execute();

  // Finalized invoices never change (DESIGN §3.7), whatever writes to the database.
  if (pg) {
    await sql`create function tally_invoice_frozen() returns trigger language plpgsql as $$
      begin
        if old.status = 'finalized' then
          raise exception 'finalized invoices are immutable' using errcode = '23514';
        end if;
        if tg_op = 'DELETE' then return old; end if;
        return new;
      end $$`.execute(db);
    await sql`create trigger invoices_frozen before update or delete on invoices
      for each row execute function tally_invoice_frozen()`.execute(db);
    // Lines are checked once per statement, over the statement's rows (a close inserts thousands).
    await sql`create function tally_invoice_lines_frozen() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from changed c join invoices i on i.id = c.invoice_id where i.status = 'finalized') then
          raise exception 'finalized invoices are immutable' using errcode = '23514';
        end if;
        return null;
      end $$`.execute(db);
    for (const [op, table] of [
      ["insert", "new"],
      ["update", "old"],
      ["delete", "old"],
    ] as const)
      await sql`create trigger ${sql.raw(`invoice_lines_frozen_${op}`)} after ${sql.raw(op)} on invoice_lines
        referencing ${sql.raw(table)} table as changed
        for each statement execute function tally_invoice_lines_frozen()`.execute(db);
  } else {
    await sql`create trigger invoices_frozen_update before update on invoices when old.status = 'finalized'
      begin select raise(abort, 'finalized invoices are immutable'); end`.execute(db);
    await sql`create trigger invoices_frozen_delete before delete on invoices when old.status = 'finalized'
      begin select raise(abort, 'finalized invoices are immutable'); end`.execute(db);
    for (const [op, ref] of [
      ["insert", "new"],
      ["update", "old"],
      ["delete", "old"],
    ] as const)
      await sql`create trigger ${sql.raw(`invoice_lines_frozen_${op}`)} before ${sql.raw(op)} on invoice_lines
        when exists (select 1 from invoices where id = ${sql.raw(ref)}.invoice_id and status = 'finalized')
        begin select raise(abort, 'finalized invoices are immutable'); end`.execute(db);
  }
}

export async function down(db: AnyDb): Promise<void> {
  for (const t of [
    "invoice_counters",
    "invoice_lines",
    "invoices",
    "billing_assignments",
    "billing_enrollment_accounts",
    "billing_departments",
    "billing_accounts",
  ])
    await db.schema.dropTable(t).execute();
  if (isPg(db)) {
    await sql`drop function tally_invoice_lines_frozen`.execute(db);
    await sql`drop function tally_invoice_frozen`.execute(db);
  }
}
