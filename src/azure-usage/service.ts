import { formatQuantity, joinQuantity } from "../domain/quantity.js";
import type { SubscriptionScope } from "../domain/scope.js";
import { DAY, HOUR, toIso } from "../domain/time.js";
import type { ProviderRow } from "../providers/repository.js";
import type { Services } from "../services.js";
import type { SubscriptionRow } from "../subscriptions/repository.js";
import { noteAnswered, readUsageClock } from "../usage/clock.js";
import { type AggregateRow, fetchAggregates } from "../usage/query.js";
import { type SubscriptionFilter, subscriptionSeqs } from "../usage/scope.js";
import { closedUntil } from "../usage/service.js";
import { UsageApiError } from "./errors.js";
import type { AzureQuery } from "./request.js";
import type { TokenState } from "./token.js";

type Deps = Pick<Services, "store" | "clock" | "catalog" | "logger" | "metrics" | "config">;

/** Whose usage a query reads, as authorized by the route. */
export type UsageTarget =
  /** Tenant API: the subscription in the path, and only it. */
  | { kind: "tenant"; subscription: SubscriptionRow }
  /** Operator API: the direct tenants of the provider whose provider subscription is in the path. */
  | { kind: "operator"; provider: ProviderRow };

/** One usage aggregate as the usage APIs answer it, every value already in its wire form. */
export interface AzureAggregate {
  subscriptionId: string;
  meterId: string;
  usageStart: number;
  usageEnd: number;
  /** The `instanceData` JSON text (`{"Microsoft.Resources":{…}}`), stored JSON embedded verbatim. */
  instanceData: string;
  /** 16 hex digits of the instance's content hash: part of the item's unique name. */
  instanceTag: string;
  /** Exact decimal text (written as a JSON number). */
  quantity: string;
}

export interface AzurePage {
  items: AzureAggregate[];
  /** The state to continue from, when more aggregates follow. */
  next: TokenState | null;
}

/**
 * The subscriptions a query reads, scoped in the repository: the tenant API's one subscription;
 * the operator API's direct tenants of the provider (deleted ones included, the provider's own
 * provider subscription excluded), or the one of them `subscriberId` names.
 */
async function scopeOf(deps: Deps, target: UsageTarget, q: AzureQuery): Promise<number[]> {
  let scope: SubscriptionScope;
  let filter: SubscriptionFilter;
  if (target.kind === "tenant") {
    scope = { subscriptionIds: [target.subscription.id], providerIds: [] };
    filter = { subscriptionId: target.subscription.id };
  } else {
    scope = { subscriptionIds: [], providerIds: [target.provider.id] };
    filter = {
      directProviderId: target.provider.id,
      excludeIds: [target.provider.subscription_id],
      ...(q.subscriberId !== undefined ? { subscriptionId: q.subscriberId } : {}),
    };
  }
  const seqs = await subscriptionSeqs(deps.store.db, scope, filter);
  if (q.subscriberId !== undefined && seqs.length === 0)
    throw new UsageApiError(
      400,
      "SubscriberIdIsNotDirectTenant",
      `The subscription '${q.subscriberId}' is not a direct tenant of the provider subscription '${q.pathSubscriptionId}'.`,
    );
  return seqs;
}

/**
 * A reported window is answerable once every hour in it is closed (sealed and aggregated): its
 * answer is then final. An end in the future, or one whose processing is not complete yet,
 * is refused with `RequestEndTimeIsInFuture` rather than answered partially, because a collector
 * walking consecutive windows would otherwise miss what arrives later in that window.
 */
async function requireClosed(deps: Deps, q: AzureQuery): Promise<{ answeredFrom: number | null }> {
  const now = deps.clock.now();
  if (q.to > now)
    throw new UsageApiError(
      400,
      "RequestEndTimeIsInFuture",
      `The reportedEndTime ${toIso(q.to)} is in the future (it is ${toIso(now)}).`,
    );
  const c = await readUsageClock(deps.store.db);
  const closed = q.to <= c.closedUntil ? c.closedUntil : await closedUntil(deps, q.to);
  if (q.to > closed)
    throw new UsageApiError(
      400,
      "RequestEndTimeIsInFuture",
      `Processing of the usage reported before ${toIso(q.to)} is not complete: reported time is final up to ` +
        `${toIso(closed)}. Ask again after ${toIso(q.to + deps.config.sealDelayMs)}.`,
    );
  return { answeredFrom: c.answeredFrom };
}

interface InstanceText {
  data: string;
  tag: string;
}

const jsonOrNull = (s: string | null) => (s === null || s === "" ? "null" : s);

/** The `instanceData` text of each instance, built once per instance and page. */
async function instanceTexts(deps: Deps, seqs: number[]): Promise<Map<number, InstanceText>> {
  const out = new Map<number, InstanceText>();
  for (let i = 0; i < seqs.length; i += 500) {
    const rows = await deps.store.db
      .selectFrom("usage_instances")
      .select(["seq", "instance_hash", "resource_uri", "location", "tags", "additional_info"])
      .where("seq", "in", seqs.slice(i, i + 500))
      .execute();
    for (const r of rows) {
      // tags and additionalInfo are stored as compact JSON text: embedded as they are, their exact
      // numbers keep every digit. Key order and nulls as the documentation's example (§2.7).
      const data =
        `{"Microsoft.Resources":{"resourceUri":${JSON.stringify(r.resource_uri)},` +
        `"location":${r.location === null ? "null" : JSON.stringify(r.location)},` +
        `"tags":${jsonOrNull(r.tags)},"additionalInfo":${jsonOrNull(r.additional_info)}}}`;
      out.set(Number(r.seq), { data, tag: r.instance_hash.slice(0, 16) });
    }
  }
  return out;
}

async function toAggregates(deps: Deps, rows: AggregateRow[], q: AzureQuery): Promise<AzureAggregate[]> {
  const subIds = await deps.catalog.subscriptionIds(rows.map((r) => r.key[0]));
  const meters = new Map<number, string>();
  for (const m of new Set(rows.map((r) => r.key[2]))) {
    const meter = await deps.catalog.meterBySeq(m);
    if (!meter) throw new Error(`meter seq ${m} is not in the catalogue`);
    meters.set(m, meter.id);
  }
  const instances = await instanceTexts(deps, [...new Set(rows.map((r) => r.key[3]))]);
  const size = q.granularity === "hourly" ? HOUR : DAY;
  return rows.map((r) => {
    const [s, b, m, i] = r.key;
    const inst = instances.get(i);
    const sub = subIds.get(s);
    if (!inst || sub === undefined) throw new Error(`aggregate ${r.key.join("/")} refers to a missing row`);
    return {
      subscriptionId: sub,
      meterId: meters.get(m)!,
      usageStart: b,
      usageEnd: b + size,
      instanceData: inst.data,
      instanceTag: inst.tag,
      quantity: formatQuantity(joinQuantity(r.units, r.frac)),
    };
  });
}

/**
 * One page of a usage-API query: at most `limit` aggregates after the query's continuation key,
 * in key order (subscription, usage bucket, meter, instance), summed over the reported window and
 * grouped by usage bucket exactly as the native API's `timeBasis=reported&groupBy=instance`.
 * Closed windows never change, so the key alone continues the walk: nothing is skipped or
 * repeated, however much usage arrives between pages.
 */
export async function answerPage(
  deps: Deps,
  target: UsageTarget,
  q: AzureQuery,
  limit: number,
): Promise<AzurePage> {
  const seqs = await scopeOf(deps, target, q);
  const { answeredFrom } = await requireClosed(deps, q);
  // Protects the window from history imports from now on (a no-op write skipped when already covered).
  if (answeredFrom === null || answeredFrom > q.from) await noteAnswered(deps.store.db, q.from);
  const rows = await fetchAggregates(
    deps.store,
    {
      basis: "reported",
      granularity: q.granularity,
      from: q.from,
      to: q.to,
      subscriptionSeqs: seqs,
      groupBy: "instance",
    },
    q.after,
    limit + 1,
  );
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page.at(-1);
  return {
    items: await toAggregates(deps, page, q),
    next:
      more && last
        ? {
            api: q.api,
            pathSubscriptionId: q.pathSubscriptionId,
            subscriberId: q.subscriberId,
            granularity: q.granularity,
            from: q.from,
            to: q.to,
            after: last.key,
          }
        : null,
  };
}
