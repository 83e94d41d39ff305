import type { Insertable, Kysely, Selectable } from "kysely";
import type { SubscriptionScope } from "../domain/scope.js";
import type { DB, SubscriptionTable } from "../storage/schema.js";

export type SubscriptionState = "Active" | "Disabled" | "Deleted";
export const SUBSCRIPTION_STATES = ["Active", "Disabled", "Deleted"] as const;

export interface Subscription {
  id: string;
  displayName: string;
  directoryId: string;
  providerId: string;
  offerId: string;
  state: SubscriptionState;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

export type SubscriptionRow = Selectable<SubscriptionTable>;

export const toSubscription = (r: SubscriptionRow): Subscription => ({
  id: r.id,
  displayName: r.display_name,
  directoryId: r.directory_id,
  providerId: r.provider_id,
  offerId: r.offer_id,
  state: r.state,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
  deletedAt: r.deleted_at === null ? null : new Date(r.deleted_at).toISOString(),
});

export const findSubscription = (db: Kysely<DB>, id: string) =>
  db.selectFrom("subscriptions").selectAll().where("id", "=", id).executeTakeFirst();

export interface SubscriptionFilter {
  after?: string;
  limit: number;
  directoryId?: string;
  providerId?: string;
  states?: readonly SubscriptionState[];
  /** Access scoping: the subscriptions the caller may see. */
  scope?: SubscriptionScope;
}

export function listSubscriptionRows(db: Kysely<DB>, f: SubscriptionFilter) {
  let q = db
    .selectFrom("subscriptions")
    .selectAll()
    .orderBy("id")
    .limit(f.limit + 1);
  if (f.after !== undefined) q = q.where("id", ">", f.after);
  if (f.directoryId !== undefined) q = q.where("directory_id", "=", f.directoryId);
  if (f.providerId !== undefined) q = q.where("provider_id", "=", f.providerId);
  if (f.states !== undefined) q = q.where("state", "in", f.states);
  const scope = f.scope;
  if (scope !== undefined && scope !== "all") {
    q = q.where((eb) =>
      eb.or([
        ...(scope.subscriptionIds.length ? [eb("id", "in", scope.subscriptionIds)] : []),
        ...(scope.providerIds.length ? [eb("provider_id", "in", scope.providerIds)] : []),
        eb.lit(false),
      ]),
    );
  }
  return q.execute();
}

export async function insertSubscription(db: Kysely<DB>, row: Insertable<SubscriptionTable>) {
  await db.insertInto("subscriptions").values(row).execute();
}

export async function updateSubscriptionRow(
  db: Kysely<DB>,
  id: string,
  set: Partial<Pick<SubscriptionRow, "display_name" | "offer_id" | "state" | "updated_at" | "deleted_at">>,
) {
  await db.updateTable("subscriptions").set(set).where("id", "=", id).execute();
}

/**
 * The subscriptions inside a scope, as a query callers select a column from and use as a
 * subquery (`where directory_id in (…)`), so that scoping happens in SQL.
 */
export function subscriptionsInScope(db: Kysely<DB>, scope: Exclude<SubscriptionScope, "all">) {
  return db
    .selectFrom("subscriptions")
    .where((eb) =>
      eb.or([
        ...(scope.subscriptionIds.length ? [eb("id", "in", scope.subscriptionIds)] : []),
        ...(scope.providerIds.length ? [eb("provider_id", "in", scope.providerIds)] : []),
        eb.lit(false),
      ]),
    );
}
