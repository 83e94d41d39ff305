import {
  type AzureGranularity,
  onBoundary,
  parseAzureInstant,
  parseGranularity,
  type RawQuery,
} from "../domain/azure-query.js";
import { canonicalGuid } from "../domain/ids.js";
import { toIso } from "../domain/time.js";
import type { RowKey } from "../usage/query.js";
import { invalidProperty, UsageApiError } from "./errors.js";
import { type AzureApi, decodeToken } from "./token.js";

export const API_VERSION = "2015-06-01-preview";

/** A validated usage-API query: what to answer, and where the previous page stopped. */
export interface AzureQuery {
  api: AzureApi;
  pathSubscriptionId: string;
  subscriberId: string | undefined;
  granularity: AzureGranularity;
  from: number;
  to: number;
  after: RowKey | null;
  /** `showDetails` as the client sent it: accepted, ignored (Azure Stack always answers per instance), echoed in `nextLink`. */
  showDetails: string | undefined;
}

const value = (q: RawQuery, name: string): string | undefined => q.get(name.toLowerCase())?.value;

/**
 * `api-version` is checked before anything else, as ARM's front door does: missing → 400
 * NoApiVersion; any version but `2015-06-01-preview` (the only one both usage APIs have) → 400
 * InvalidApiVersionParameter, ARM's code for it, rather than guessing what another version means.
 */
export function checkApiVersion(q: RawQuery): void {
  const v = value(q, "api-version");
  if (v === undefined || v === "")
    throw new UsageApiError(
      400,
      "NoApiVersion",
      "The api-version query parameter (?api-version=) is required for all requests.",
    );
  if (v !== API_VERSION)
    throw new UsageApiError(
      400,
      "InvalidApiVersionParameter",
      `The api-version '${v}' is invalid. The supported versions are '${API_VERSION}'.`,
    );
}

function instant(q: RawQuery, name: string, g: AzureGranularity): number {
  const v = value(q, name);
  if (v === undefined || v === "") throw invalidProperty(`The query parameter '${name}' is missing.`);
  const t = parseAzureInstant(v);
  if (typeof t === "string") throw invalidProperty(`The query parameter '${name}' ('${v}') ${t}.`);
  if (!onBoundary(t, g))
    throw invalidProperty(
      g === "hourly"
        ? `The query parameter '${name}' (${toIso(t)}) must be on a whole hour in UTC for Hourly aggregation.`
        : `The query parameter '${name}' (${toIso(t)}) must be a UTC midnight for Daily aggregation.`,
    );
  return t;
}

/**
 * The query a request asks for. With a continuation token, the token's own query wins over the
 * request's dates and granularity: `@azure/arm-commerce`'s `listNext` re-sends the first call's
 * dates and `aggregationGranularity=Daily` over the link (reference §9.1), and obeying them would
 * continue a different query from a key that belongs to another. The token must belong to this
 * path and API; a malformed, tampered or foreign token is `InvalidProperty`.
 */
export function resolveQuery(
  q: RawQuery,
  ctx: { api: AzureApi; pathSubscriptionId: string; secret: Buffer },
): AzureQuery {
  const showDetails = value(q, "showDetails");
  const token = value(q, "continuationToken");
  if (token !== undefined && token !== "") {
    const s = decodeToken(ctx.secret, token);
    if (s === undefined)
      throw invalidProperty(
        "The query parameter 'continuationToken' is not a token this server issued; start again without it.",
      );
    if (s.api !== ctx.api || s.pathSubscriptionId !== ctx.pathSubscriptionId)
      throw invalidProperty(
        "The query parameter 'continuationToken' belongs to another query; follow the nextLink of the previous page.",
      );
    return { ...s, showDetails };
  }

  const g = parseGranularity(value(q, "aggregationGranularity"));
  if (g === undefined)
    throw new UsageApiError(
      400,
      "InvalidAggregationGranularity",
      "An invalid aggregation granularity was requested. Valid values are Daily and Hourly.",
    );
  const from = instant(q, "reportedStartTime", g);
  const to = instant(q, "reportedEndTime", g);
  if (from >= to)
    throw invalidProperty(
      `The query parameter 'reportedEndTime' (${toIso(to)}) must be after 'reportedStartTime' (${toIso(from)}).`,
    );

  let subscriberId: string | undefined;
  const sub = ctx.api === "operator" ? value(q, "subscriberId") : undefined; // the tenant API ignores it
  if (sub !== undefined && sub !== "") {
    subscriberId = canonicalGuid(sub);
    if (subscriberId === undefined)
      throw invalidProperty(
        `The query parameter 'subscriberId' ('${sub}') is not a subscription id (a GUID).`,
      );
  }
  return {
    api: ctx.api,
    pathSubscriptionId: ctx.pathSubscriptionId,
    subscriberId,
    granularity: g,
    from,
    to,
    after: null,
    showDetails,
  };
}
