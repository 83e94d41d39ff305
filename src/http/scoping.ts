import type { FastifyRequest } from "fastify";
import type { SubscriptionScope } from "../domain/scope.js";
import type { Services } from "../services.js";
import { principalOf } from "./auth.js";

/**
 * The subscriptions whose usage the caller may read. Until role assignments exist only the
 * operator passes the route's action check, and the operator sees everything.
 */
export async function usageScope(_svc: Services, req: FastifyRequest): Promise<SubscriptionScope> {
  const p = principalOf(req);
  return p.kind === "operator" ? "all" : { subscriptionIds: [], providerIds: [] };
}
