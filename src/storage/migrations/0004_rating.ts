import type { AnyDb } from "./util.js";

/**
 * Rating.
 *
 * - `offers`: what subscriptions are sold under; a durable id (`MS-AZR-0003P`-style or the
 *   operator's own), owned by a provider. `subscriptions.offer_id` refers to it; the existing
 *   table cannot gain a foreign key cheaply on SQLite, so the subscription service validates it.
 * - `price_sheets`: versions of an offer's prices in one currency, from `effective_from` (a UTC
 *   midnight) until the next version; `terms` holds the version's offer terms as JSON with exact
 *   decimal strings. Versions are immutable once in force.
 * - `price_sheet_meters`: one meter's tier map (JSON, tier start → unit price, decimal strings)
 *   and included quantity per period, in a version.
 * - `markups`: a reseller's percentage on the price sheets, by target scope
 *   (`/providers/{id}`, `/billingAccounts/{id}`), as an exact decimal string.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("offers")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("display_name", "text", (c) => c.notNull())
    .addColumn("provider_id", "text", (c) => c.notNull().references("providers.id"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("offers_provider").on("offers").column("provider_id").execute();
  await db.schema.createIndex("subscriptions_offer").on("subscriptions").column("offer_id").execute();

  await db.schema
    .createTable("price_sheets")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("offer_id", "text", (c) => c.notNull().references("offers.id"))
    .addColumn("currency", "text", (c) => c.notNull())
    .addColumn("effective_from", "bigint", (c) => c.notNull())
    .addColumn("terms", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("created_by", "text", (c) => c.notNull())
    .addUniqueConstraint("price_sheets_offer_currency_from", ["offer_id", "currency", "effective_from"])
    .execute();

  await db.schema
    .createTable("price_sheet_meters")
    .addColumn("price_sheet_id", "text", (c) => c.notNull().references("price_sheets.id"))
    .addColumn("meter_key", "text", (c) => c.notNull())
    .addColumn("rates", "text", (c) => c.notNull())
    .addColumn("included_quantity", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("price_sheet_meters_pk", ["price_sheet_id", "meter_key"])
    .execute();

  await db.schema
    .createTable("markups")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("scope", "text", (c) => c.notNull().unique())
    .addColumn("percent", "text", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable("markups").execute();
  await db.schema.dropTable("price_sheet_meters").execute();
  await db.schema.dropTable("price_sheets").execute();
  await db.schema.dropIndex("subscriptions_offer").execute();
  await db.schema.dropTable("offers").execute();
}
