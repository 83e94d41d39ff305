import type { FastifyRequest } from "fastify";
import { requireOnProvider, requireOnSubscription, visibleSubscriptions } from "../auth/scoping.js";
import type { SubscriptionScope } from "../domain/scope.js";
import type { Services } from "../services.js";
import { principalOf } from "./auth.js";

/**
 * The subscriptions whose usage the caller may read, scoped by its role assignments. A
 * subscription or provider the query names must be one the caller can see (404 otherwise, as if it
 * did not exist); a directory filter only narrows what the scope already allows.
 */
export async function usageScope(
  svc: Services,
  req: FastifyRequest,
  named: { subscriptionId?: string; providerId?: string },
): Promise<SubscriptionScope> {
  const p = principalOf(req);
  if (named.subscriptionId !== undefined)
    await requireOnSubscription(svc, p, "usage/read", named.subscriptionId);
  if (named.providerId !== undefined) await requireOnProvider(svc, p, "usage/read", named.providerId);
  return visibleSubscriptions(svc, p, "usage/read");
}
