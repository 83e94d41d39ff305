import type { Kysely, Selectable } from "kysely";
import type { DB, ProviderTable } from "../storage/schema.js";

export interface Provider {
  id: string;
  displayName: string;
  parentId: string | null;
  subscriptionId: string;
  createdAt: string;
  updatedAt: string;
}

export type ProviderRow = Selectable<ProviderTable>;

export const toProvider = (r: ProviderRow): Provider => ({
  id: r.id,
  displayName: r.display_name,
  parentId: r.parent_id,
  subscriptionId: r.subscription_id,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

export const findProvider = (db: Kysely<DB>, id: string) =>
  db.selectFrom("providers").selectAll().where("id", "=", id).executeTakeFirst();

export const findProviderBySubscription = (db: Kysely<DB>, subscriptionId: string) =>
  db.selectFrom("providers").selectAll().where("subscription_id", "=", subscriptionId).executeTakeFirst();

export function listProviderRows(
  db: Kysely<DB>,
  f: { after?: string; limit: number; parentId?: string; ids?: readonly string[] },
) {
  let q = db
    .selectFrom("providers")
    .selectAll()
    .where("deleted_at", "is", null)
    .orderBy("id")
    .limit(f.limit + 1);
  if (f.after !== undefined) q = q.where("id", ">", f.after);
  if (f.parentId !== undefined) q = q.where("parent_id", "=", f.parentId);
  if (f.ids !== undefined) q = f.ids.length ? q.where("id", "in", f.ids) : q.where("id", "=", "");
  return q.execute();
}

/** The whole (small) provider tree, live providers only. */
export const allProviderRows = (db: Kysely<DB>) =>
  db.selectFrom("providers").selectAll().where("deleted_at", "is", null).execute();

/** Ids of `rootId` and every live provider below it. */
export function descendants(rows: readonly ProviderRow[], rootId: string): string[] {
  const children = new Map<string, string[]>();
  for (const r of rows) {
    if (r.parent_id === null) continue;
    const list = children.get(r.parent_id) ?? [];
    list.push(r.id);
    children.set(r.parent_id, list);
  }
  const out: string[] = [];
  const stack = [rootId];
  while (stack.length) {
    const id = stack.pop()!;
    out.push(id);
    stack.push(...(children.get(id) ?? []));
  }
  return out;
}

/** The whole provider tree, deleted providers included (their history keeps its place in the tree). */
export const providerTreeRows = (db: Kysely<DB>) =>
  db.selectFrom("providers").select(["id", "parent_id", "subscription_id", "deleted_at"]).execute();

/**
 * The provider whose provider subscription `subscriptionId` is, with that subscription: the
 * entry point of the Azure operator usage API, which is called on a provider subscription.
 */
export async function findProviderSubscription(db: Kysely<DB>, subscriptionId: string) {
  const provider = await findProviderBySubscription(db, subscriptionId);
  if (!provider) return undefined;
  const subscription = await db
    .selectFrom("subscriptions")
    .selectAll()
    .where("id", "=", subscriptionId)
    .executeTakeFirst();
  return subscription ? { provider, subscription } : undefined;
}

/**
 * A provider's direct tenants: the subscriptions it offers, deleted ones included (their usage
 * stays reportable), excluding the provider's own provider subscription (only the root provider
 * offers its own). A child provider's provider subscription is a direct tenant of the parent.
 */
export function listDirectTenantRows(
  db: Kysely<DB>,
  provider: Pick<ProviderRow, "id" | "subscription_id">,
  f: { after?: string; limit: number },
) {
  let q = db
    .selectFrom("subscriptions")
    .selectAll()
    .where("provider_id", "=", provider.id)
    .where("id", "!=", provider.subscription_id)
    .orderBy("id")
    .limit(f.limit + 1);
  if (f.after !== undefined) q = q.where("id", ">", f.after);
  return q.execute();
}
