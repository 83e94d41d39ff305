import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { requireOnProviderSubscription, requireUsageOnSubscription } from "../../auth/scoping.js";
import { invalidProperty, UsageApiError } from "../../azure-usage/errors.js";
import { Overloaded } from "../../azure-usage/gate.js";
import { PageBuffers, pageJson, type UsageNamespace } from "../../azure-usage/json.js";
import { API_VERSION, type AzureQuery, checkApiVersion, resolveQuery } from "../../azure-usage/request.js";
import { usageTokenSecret } from "../../azure-usage/secret.js";
import { answerPage, type UsageTarget } from "../../azure-usage/service.js";
import { type AzureApi, encodeToken, type TokenState } from "../../azure-usage/token.js";
import {
  formatAzureInstant,
  granularityName,
  isQueryProblem,
  parseRawQuery,
} from "../../domain/azure-query.js";
import { DomainError } from "../../domain/errors.js";
import type { Services } from "../../services.js";
import type { Store } from "../../storage/database.js";
import { principalOf } from "../auth.js";
import { AzureError } from "../azure-errors.js";
import { publicBaseUrl } from "../public-url.js";
import type { App } from "../types.js";

/** Azure Stack answers at most 1,000 aggregates per call (reference §2.5). */
export const PAGE_SIZE = 1000;

interface UsageRoute {
  /** Provider namespace and resource type, as registered (requests match case-insensitively: azure-paths.ts). */
  path: string;
  api: AzureApi;
  namespace: UsageNamespace;
  summary: string;
}

const ROUTES: UsageRoute[] = [
  {
    path: "Microsoft.Commerce/UsageAggregates",
    api: "tenant",
    namespace: "Microsoft.Commerce",
    summary: "Tenant usage API (Get-UsageAggregates): the usage of the subscription in the path.",
  },
  {
    path: "Microsoft.Commerce.Admin/subscriberUsageAggregates",
    api: "operator",
    namespace: "Microsoft.Commerce.Admin",
    summary:
      "Operator usage API (Get-AzsSubscriberUsage): the usage of the direct tenants of the provider whose provider subscription is in the path.",
  },
  {
    path: "Microsoft.Commerce/subscriberUsageAggregates",
    api: "operator",
    namespace: "Microsoft.Commerce.Admin",
    summary: "The operator usage API at its 2016 path (clients generated from the early swagger).",
  },
];

const DESCRIPTION = `Wire-compatible with the Azure Stack Hub usage APIs (api-version=${API_VERSION}); see
docs/azure-usage-api.md. Query: reportedStartTime (inclusive) and reportedEndTime (exclusive), on whole hours (Hourly)
or UTC midnights (Daily), in any ISO 8601 form real clients send; aggregationGranularity Daily (default) or Hourly;
subscriberId (operator API: one direct tenant); continuationToken (from nextLink); showDetails (ignored). The window
must be closed. Answers {"value":[…],"nextLink"?} with at most 1,000 aggregates; errors {"error":{"code","message"}}.`;

const params = z.object({ subscriptionId: z.string() });

const aggregate = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  properties: z.object({
    subscriptionId: z.string(),
    usageStartTime: z.string(),
    usageEndTime: z.string(),
    instanceData: z
      .string()
      .describe('JSON text: {"Microsoft.Resources":{resourceUri, location, tags, additionalInfo}}'),
    quantity: z.number().describe("written from the exact decimal value"),
    meterId: z.string(),
  }),
});

const secrets = new WeakMap<Store, Promise<Buffer>>();
const pageBuffers = new PageBuffers();

/** The token-signing secret, read once per store (it never changes). */
function tokenSecret(svc: Services): Promise<Buffer> {
  let s = secrets.get(svc.store);
  if (!s) {
    s = usageTokenSecret(svc.store.db);
    s.catch(() => secrets.delete(svc.store));
    secrets.set(svc.store, s);
  }
  return s;
}

/**
 * Who may read what. Tenant API: a role on the subscription in the path. Operator API: a role on
 * the provider subscription in the path, or at its provider (see requireOnProviderSubscription).
 * Anything the caller cannot see is, as Azure says it, a subscription that could not be found.
 */
async function targetOf(
  svc: Services,
  req: FastifyRequest,
  api: AzureApi,
  pathId: string,
): Promise<UsageTarget> {
  const p = principalOf(req);
  try {
    if (api === "tenant")
      return { kind: "tenant", subscription: await requireUsageOnSubscription(svc, p, "usage/read", pathId) };
    return {
      kind: "operator",
      provider: (await requireOnProviderSubscription(svc, p, "usage/read", pathId)).provider,
    };
  } catch (e) {
    if (e instanceof DomainError && e.code === "NotFound")
      throw new AzureError(404, "SubscriptionNotFound", `The subscription '${pathId}' could not be found.`);
    throw e;
  }
}

/**
 * The next page's link: absolute (the legacy SDK resolves relative links against
 * management.azure.com), and self-contained (the current SDK and the Az PowerShell module follow
 * it verbatim): every filter of the query, then the token, percent-encoded.
 */
function nextLinkOf(
  req: FastifyRequest,
  svc: Services,
  route: UsageRoute,
  pathId: string,
  q: AzureQuery,
  next: TokenState,
  secret: Buffer,
) {
  const base = publicBaseUrl(req, svc.config);
  if (base === undefined)
    throw invalidProperty(
      "The request's Host header cannot be used to link to the next page; send a valid Host header (or set TALLY_PUBLIC_URL).",
    );
  const query: [string, string][] = [
    ["reportedStartTime", formatAzureInstant(next.from)],
    ["reportedEndTime", formatAzureInstant(next.to)],
    ["aggregationGranularity", granularityName(next.granularity)],
    ...(next.subscriberId !== undefined ? [["subscriberId", next.subscriberId] as [string, string]] : []),
    ...(q.showDetails !== undefined ? [["showDetails", q.showDetails] as [string, string]] : []),
    ["api-version", API_VERSION],
  ];
  const qs = query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  return `${base}/subscriptions/${encodeURIComponent(pathId)}/providers/${route.path}?${qs}&continuationToken=${encodeURIComponent(encodeToken(secret, next))}`;
}

async function answer(svc: Services, req: FastifyRequest, reply: FastifyReply, route: UsageRoute) {
  // The query string is read raw: Fastify's parser would turn the `+` of an unescaped offset into a space.
  const raw = parseRawQuery(req.raw.url ?? req.url);
  if (isQueryProblem(raw)) throw invalidProperty(`The query parameter '${raw.param}' ${raw.reason}.`);
  checkApiVersion(raw);
  const pathId = (req.params as { subscriptionId: string }).subscriptionId;
  if (pathId === "")
    throw new UsageApiError(
      400,
      "SubscriptionIdMissingInRequest",
      "The subscription id is missing in the request path.",
    );
  try {
    return await svc.usageGate.run(async () => {
      const target = await targetOf(svc, req, route.api, pathId);
      const canonicalId = target.kind === "tenant" ? target.subscription.id : target.provider.subscription_id;
      const secret = await tokenSecret(svc);
      const q = resolveQuery(raw, { api: route.api, pathSubscriptionId: canonicalId, secret });
      const page = await answerPage(svc, target, q, PAGE_SIZE);
      const nextLink = page.next ? nextLinkOf(req, svc, route, pathId, q, page.next, secret) : undefined;
      const body = pageJson(page, {
        namespace: route.namespace,
        granularity: q.granularity,
        nextLink,
        buffers: pageBuffers,
      });
      // The page's memory serves again once the socket has taken all of it (not after an abort).
      reply.raw.once("finish", () => pageBuffers.give(body));
      return reply
        .header("x-ms-request-id", String(req.id))
        .type("application/json; charset=utf-8")
        .send(body);
    });
  } catch (e) {
    if (e instanceof Overloaded) {
      void reply.header("retry-after", String(e.retryAfterSec));
      throw new AzureError(503, "ServiceUnavailable", e.message);
    }
    throw e;
  }
}

/** The Azure Stack–compatible usage APIs: tenant UsageAggregates and operator subscriberUsageAggregates. */
export function registerAzureUsage(app: App, svc: Services): void {
  for (const route of ROUTES) {
    app.get(
      `/subscriptions/:subscriptionId/providers/${route.path}`,
      {
        config: { action: "usage/read", access: "resource", envelope: "azure" },
        schema: {
          tags: ["azure"],
          summary: route.summary,
          description: DESCRIPTION,
          params,
          response: { 200: z.object({ value: z.array(aggregate), nextLink: z.string().optional() }) },
        },
      },
      async (req, reply) => {
        try {
          return await answer(svc, req, reply, route);
        } catch (e) {
          throw e instanceof UsageApiError ? new AzureError(e.status, e.code, e.message) : e;
        }
      },
    );
  }
}
