import { type Kysely, type Selectable, sql } from "kysely";
import type { SubscriptionScope } from "../domain/scope.js";
import type { DB, EnrollmentPolicyTable, RoleAssignmentTable } from "../storage/schema.js";
import type { EnrollmentPolicy } from "./roles.js";

export interface RoleAssignment {
  id: string;
  principalId: string;
  role: string;
  scope: string;
  createdAt: string;
  createdBy: string;
}

export type RoleAssignmentRow = Selectable<RoleAssignmentTable>;

export const toRoleAssignment = (r: RoleAssignmentRow): RoleAssignment => ({
  id: r.id,
  principalId: r.principal_id,
  role: r.role,
  scope: r.scope,
  createdAt: new Date(r.created_at).toISOString(),
  createdBy: r.created_by,
});

export const findAssignment = (db: Kysely<DB>, id: string) =>
  db.selectFrom("role_assignments").selectAll().where("id", "=", id).executeTakeFirst();

export const assignmentsOfPrincipal = (db: Kysely<DB>, principalId: string) =>
  db.selectFrom("role_assignments").selectAll().where("principal_id", "=", principalId).execute();

export async function insertAssignment(db: Kysely<DB>, row: RoleAssignmentRow): Promise<void> {
  await db.insertInto("role_assignments").values(row).execute();
}

export async function deleteAssignmentRow(db: Kysely<DB>, id: string): Promise<void> {
  await db.deleteFrom("role_assignments").where("id", "=", id).execute();
}

export async function countAssignments(db: Kysely<DB>, role: string, scope: string): Promise<number> {
  const r = await db
    .selectFrom("role_assignments")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("role", "=", role)
    .where("scope", "=", scope)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Which assignments a caller may list: all, or those naming the caller, those at the listed
 * scopes, those below the listed prefixes (enrollment trees), and those at subscriptions inside a
 * subscription scope (resolved in SQL, so a provider with many tenants needs no id list).
 */
export type AssignmentVisibility =
  | "all"
  | {
      principalId: string;
      scopes: readonly string[];
      prefixes: readonly string[];
      subscriptions: SubscriptionScope;
    };

export interface AssignmentFilter {
  after?: readonly [number, string];
  limit: number;
  principalId?: string;
  scope?: string;
  visible: AssignmentVisibility;
}

const likePrefix = (p: string) => `${p.replace(/[\\%_]/g, "\\$&")}%`;

export function listAssignmentRows(db: Kysely<DB>, f: AssignmentFilter) {
  let q = db
    .selectFrom("role_assignments as ra")
    .selectAll("ra")
    .orderBy("ra.created_at")
    .orderBy("ra.id")
    .limit(f.limit + 1);
  if (f.after !== undefined) {
    const [at, id] = f.after;
    q = q.where((eb) =>
      eb.or([eb("ra.created_at", ">", at), eb.and([eb("ra.created_at", "=", at), eb("ra.id", ">", id)])]),
    );
  }
  if (f.principalId !== undefined) q = q.where("ra.principal_id", "=", f.principalId);
  if (f.scope !== undefined) q = q.where("ra.scope", "=", f.scope);
  const v = f.visible;
  if (v !== "all") {
    q = q.where((eb) => {
      const subs = v.subscriptions;
      const inSubscriptions =
        subs === "all"
          ? [eb("ra.scope", "like", "/subscriptions/%")]
          : subs.subscriptionIds.length || subs.providerIds.length
            ? [
                eb(
                  "ra.scope",
                  "in",
                  eb
                    .selectFrom("subscriptions as s")
                    .select(sql<string>`'/subscriptions/' || s.id`.as("scope"))
                    .where((w) =>
                      w.or([
                        ...(subs.subscriptionIds.length ? [w("s.id", "in", subs.subscriptionIds)] : []),
                        ...(subs.providerIds.length ? [w("s.provider_id", "in", subs.providerIds)] : []),
                      ]),
                    ),
                ),
              ]
            : [];
      return eb.or([
        eb("ra.principal_id", "=", v.principalId),
        ...(v.scopes.length ? [eb("ra.scope", "in", v.scopes)] : []),
        ...v.prefixes.map((p) => sql<boolean>`ra.scope like ${likePrefix(p)} escape '\\'`),
        ...inSubscriptions,
      ]);
    });
  }
  return q.execute();
}

/**
 * Records a principal seen in a token, once: assignments may name principals before or after
 * they first sign in, and this table lets operators see who has.
 */
export async function recordPrincipal(
  db: Kysely<DB>,
  p: { id: string; kind: "user" | "service"; displayName: string; directoryId: string | null },
  now: number,
): Promise<void> {
  await db
    .insertInto("principals")
    .values({
      id: p.id,
      kind: p.kind,
      display_name: p.displayName,
      directory_id: p.directoryId,
      created_at: now,
    })
    .onConflict((oc) => oc.column("id").doNothing())
    .execute();
}

export const findPrincipal = (db: Kysely<DB>, id: string) =>
  db.selectFrom("principals").selectAll().where("id", "=", id).executeTakeFirst();

export const toPolicy = (r: Selectable<EnrollmentPolicyTable>): EnrollmentPolicy => ({
  departmentAdminsCanViewCharges: r.da_view_charges === 1,
  accountOwnersCanViewCharges: r.ao_view_charges === 1,
});

export const findPolicyRow = (db: Kysely<DB>, enrollmentId: string) =>
  db
    .selectFrom("enrollment_policies")
    .selectAll()
    .where("enrollment_id", "=", enrollmentId)
    .executeTakeFirst();

export async function upsertPolicy(
  db: Kysely<DB>,
  enrollmentId: string,
  p: EnrollmentPolicy,
  now: number,
  by: string,
): Promise<void> {
  const values = {
    da_view_charges: p.departmentAdminsCanViewCharges ? 1 : 0,
    ao_view_charges: p.accountOwnersCanViewCharges ? 1 : 0,
    updated_at: now,
    updated_by: by,
  } as const;
  await db
    .insertInto("enrollment_policies")
    .values({ enrollment_id: enrollmentId, ...values })
    .onConflict((oc) => oc.column("enrollment_id").doUpdateSet(values))
    .execute();
}
