import { sql } from "kysely";
import type { AnyDb } from "./util.js";

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("role_assignments")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("principal_id", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("scope", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("created_by", "text", (c) => c.notNull())
    .addUniqueConstraint("role_assignments_principal_role_scope", ["principal_id", "role", "scope"])
    .execute();
  await db.schema.createIndex("role_assignments_scope").on("role_assignments").column("scope").execute();

  // Booleans as 0/1 integers: SQLite has no boolean type and the drivers bind numbers alike.
  await db.schema
    .createTable("enrollment_policies")
    .addColumn("enrollment_id", "text", (c) => c.primaryKey())
    .addColumn("da_view_charges", "integer", (c) => c.notNull().check(sql`da_view_charges in (0, 1)`))
    .addColumn("ao_view_charges", "integer", (c) => c.notNull().check(sql`ao_view_charges in (0, 1)`))
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .addColumn("updated_by", "text", (c) => c.notNull())
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable("enrollment_policies").execute();
  await db.schema.dropTable("role_assignments").execute();
}
