import { forbidden } from "../auth/access.js";
import { grantPermits } from "../auth/authorize.js";
import type { Principal } from "../auth/principal.js";
import { type AccessDeps, ProviderTree } from "../auth/scoping.js";
import { notFound } from "../domain/errors.js";
import { parseScope, ROOT_CHAIN } from "../domain/scope.js";
import { findSubscription } from "../subscriptions/repository.js";
import { findOffer, type OfferRow, type OfferScope } from "./repository.js";

/**
 * Who sees and changes offers and their prices (docs/rating.md, "Who sees prices"):
 * - at `/`: every offer;
 * - at a provider: the offers of its subtree (its own and its resellers'), which it manages, and
 *   the offers of the providers above it, which it resells and may read but not change;
 * - on a subscription: the offer the subscription is on (a tenant reads its own price list).
 */
export async function visibleOffers(
  svc: AccessDeps,
  principal: Principal,
  action: string,
): Promise<OfferScope> {
  if (await svc.access.can(principal, action, ROOT_CHAIN)) return "all";
  const grants = (await svc.access.grantsOf(principal)).filter((g) => grantPermits(g, action));
  const providerIds = new Set<string>();
  const offerIds = new Set<string>();
  let tree: ProviderTree | undefined;
  for (const g of grants) {
    const s = parseScope(g.scope);
    if (typeof s === "string") continue;
    if (s.kind === "provider") {
      tree ??= await ProviderTree.load(svc.store.db);
      if (!tree.has(s.providerId)) continue;
      for (const id of tree.descendants(s.providerId)) providerIds.add(id);
      for (const id of tree.ancestors(s.providerId)) providerIds.add(id);
    } else if (s.kind === "subscription") {
      const sub = await findSubscription(svc.store.db, s.subscriptionId);
      if (sub) offerIds.add(sub.offer_id);
    }
  }
  return { providerIds: [...providerIds], offerIds: [...offerIds] };
}

export const offerVisible = (scope: OfferScope, offer: Pick<OfferRow, "id" | "provider_id">): boolean =>
  scope === "all" || scope.providerIds.includes(offer.provider_id) || scope.offerIds.includes(offer.id);

/**
 * Resolves an offer for an action. Reads need the offer to be visible (404 otherwise, as if it
 * did not exist); changes need `action` at the owning provider's scope (403 when the offer is
 * visible but the caller may not change it: a reseller reading its parent's offer).
 */
export async function requireOnOffer(
  svc: AccessDeps,
  principal: Principal,
  action: string,
  offerId: string,
  opts: { readAction: string; write: boolean },
): Promise<OfferRow> {
  const row = await findOffer(svc.store.db, offerId);
  if (!row) throw notFound("offer", offerId);
  if (opts.write) {
    const tree = await ProviderTree.load(svc.store.db);
    if (await svc.access.can(principal, action, tree.chain(row.provider_id))) return row;
  } else if (offerVisible(await visibleOffers(svc, principal, action), row)) return row;
  if (opts.write && offerVisible(await visibleOffers(svc, principal, opts.readAction), row))
    throw forbidden(principal, action);
  throw notFound("offer", offerId);
}
