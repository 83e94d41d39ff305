import { sql } from "kysely";
import type { AnyDb } from "./util.js";

/**
 * Registration and the usage bridge.
 *
 * - `registrations`: the cloud's link to upstream commerce; at most one row (`singleton`).
 *   `upstream_credential` is sealed with a key from the data dir, never stored in clear.
 * - `registration_customer_subscriptions`: per-tenant (CSP) upstream subscriptions, one per
 *   tenant and registration; `subscription_key` is the id lower-cased for case-insensitive lookup.
 * - `bridge_state`: per registration, the reported time up to which every window is delivered,
 *   the window in flight, and the last delivery outcome.
 * - `bridge_batches`: the outbox. A window's batches are built once, frozen (body, idempotency
 *   key, upstream subscription) and re-sent as they are until acknowledged.
 * - `job_leases`: which node runs a background job, so that nodes sharing PostgreSQL take turns.
 * - `sources.kind`: `bridge` marks a source that is another cloud's bridge (a hub receives
 *   records whose resource URI names the cloud's own subscription).
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("registrations")
    .addColumn("object_id", "text", (c) => c.primaryKey())
    .addColumn("singleton", "integer", (c) => c.notNull().defaultTo(1).unique().check(sql`singleton = 1`))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("name_key", "text", (c) => c.notNull().unique())
    .addColumn("subscription_id", "text", (c) => c.notNull())
    .addColumn("resource_group", "text", (c) => c.notNull())
    .addColumn("cloud_id", "text", (c) => c.notNull())
    .addColumn("billing_model", "text", (c) =>
      c.notNull().check(sql`billing_model in ('PayAsYouUse', 'Capacity', 'Development')`),
    )
    .addColumn("default_subscription_id", "text", (c) => c.notNull())
    .addColumn("usage_reporting_enabled", "integer", (c) =>
      c.notNull().check(sql`usage_reporting_enabled in (0, 1)`),
    )
    .addColumn("upstream_type", "text", (c) => c.notNull().check(sql`upstream_type in ('Tally', 'Https')`))
    .addColumn("upstream_url", "text")
    .addColumn("upstream_credential", "text")
    .addColumn("tags", "text")
    .addColumn("etag", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("registration_customer_subscriptions")
    .addColumn("registration_id", "text", (c) => c.notNull().references("registrations.object_id"))
    .addColumn("subscription_key", "text", (c) => c.notNull())
    .addColumn("subscription_id", "text", (c) => c.notNull())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("registration_customer_subscriptions_pk", [
      "registration_id",
      "subscription_key",
    ])
    .addUniqueConstraint("registration_customer_subscriptions_tenant", ["registration_id", "tenant_id"])
    .execute();

  await db.schema
    .createTable("bridge_state")
    .addColumn("registration_id", "text", (c) => c.primaryKey())
    .addColumn("forwarded_until", "bigint", (c) => c.notNull())
    .addColumn("window_start", "bigint")
    .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "bigint")
    .addColumn("last_attempt_at", "bigint")
    .addColumn("last_success_at", "bigint")
    .addColumn("last_error_category", "text")
    .addColumn("last_error_message", "text")
    .addColumn("last_error_at", "bigint")
    .execute();

  await db.schema
    .createTable("bridge_batches")
    .addColumn("registration_id", "text", (c) => c.notNull())
    .addColumn("window_start", "bigint", (c) => c.notNull())
    .addColumn("part", "integer", (c) => c.notNull())
    .addColumn("idempotency_key", "text", (c) => c.notNull().unique())
    .addColumn("upstream_subscription_id", "text", (c) => c.notNull())
    .addColumn("records", "integer", (c) => c.notNull())
    .addColumn("body", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("delivered_at", "bigint")
    .addPrimaryKeyConstraint("bridge_batches_pk", ["registration_id", "window_start", "part"])
    .execute();

  await db.schema
    .createTable("job_leases")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("owner", "text", (c) => c.notNull())
    .addColumn("until", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .alterTable("sources")
    .addColumn("kind", "text", (c) =>
      c.notNull().defaultTo("provider").check(sql`kind in ('provider', 'bridge')`),
    )
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable("sources").dropColumn("kind").execute();
  for (const t of [
    "job_leases",
    "bridge_batches",
    "bridge_state",
    "registration_customer_subscriptions",
    "registrations",
  ]) {
    await db.schema.dropTable(t).execute();
  }
}
