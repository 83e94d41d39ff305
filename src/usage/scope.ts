import type { Kysely } from "kysely";
import type { SubscriptionScope } from "../domain/scope.js";
import { allProviderRows, descendants } from "../providers/repository.js";
import { executePrepared, type Store } from "../storage/database.js";
import type { DB } from "../storage/schema.js";

export interface SubscriptionFilter {
  subscriptionId?: string;
  directoryId?: string;
  /** A provider: the subscriptions offered anywhere in its subtree. */
  providerId?: string;
  /** Subscriptions offered directly by this provider (the Azure operator API's direct tenants). */
  directProviderId?: string;
  /** Leave out these subscriptions (a provider's own provider subscription). */
  excludeIds?: readonly string[];
  /**
   * A window of the answer: keys from this one on, at most `limit` of them. A query that pages
   * through thousands of subscriptions loads the keys it is about to read, not all of them.
   */
  fromSeq?: number;
  limit?: number;
}

/**
 * The internal keys, sorted, of the subscriptions a principal's scope allows and the filters
 * select, deleted ones included (they keep their usage). This is where usage reads are scoped.
 */
export async function subscriptionSeqs(
  db: Kysely<DB>,
  scope: SubscriptionScope,
  f: SubscriptionFilter,
): Promise<number[]> {
  let q = db.selectFrom("subscriptions").select("seq").orderBy("seq");
  if (scope !== "all") {
    q = q.where((eb) =>
      eb.or([
        ...(scope.subscriptionIds.length ? [eb("id", "in", scope.subscriptionIds)] : []),
        ...(scope.providerIds.length ? [eb("provider_id", "in", scope.providerIds)] : []),
        eb.lit(false),
      ]),
    );
  }
  if (f.subscriptionId !== undefined) q = q.where("id", "=", f.subscriptionId);
  if (f.directoryId !== undefined) q = q.where("directory_id", "=", f.directoryId);
  if (f.directProviderId !== undefined) q = q.where("provider_id", "=", f.directProviderId);
  if (f.providerId !== undefined) {
    const ids = descendants(await allProviderRows(db), f.providerId);
    q = q.where("provider_id", "in", ids);
  }
  if (f.excludeIds?.length) q = q.where("id", "not in", f.excludeIds);
  if (f.fromSeq !== undefined) q = q.where("seq", ">=", f.fromSeq);
  if (f.limit !== undefined) q = q.limit(f.limit);
  return (await q.execute()).map((r) => Number(r.seq));
}

/**
 * A window of a provider's direct tenants' keys, sorted: the subscriptions it offers (deleted ones
 * included) but its own provider subscription, from `fromSeq` on, at most `limit`. What
 * `subscriptionSeqs` answers for that scope and filter, as the query the Azure operator usage API
 * runs on every page (alone, or inside its aggregate statement: `nextSubscriptions`).
 */
export function directTenantWindow(
  db: Kysely<DB>,
  provider: { id: string; subscriptionId: string },
  window: { fromSeq: number; limit: number },
) {
  return db
    .selectFrom("subscriptions")
    .select("seq")
    .where("provider_id", "=", provider.id)
    .where("id", "<>", provider.subscriptionId)
    .where("seq", ">=", window.fromSeq)
    .orderBy("seq")
    .limit(window.limit);
}

/** The keys of `directTenantWindow`, as a statement of its own. */
export async function directTenantSeqs(
  store: Store,
  provider: { id: string; subscriptionId: string },
  window: { fromSeq: number; limit: number },
): Promise<number[]> {
  const rows = await executePrepared(store, directTenantWindow(store.db, provider, window));
  return rows.map((r) => Number(r.seq));
}
