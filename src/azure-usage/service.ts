import { directTenantKeys, type ProviderKeys, type SubscriptionKeys } from "../auth/scoping.js";
import { toIso } from "../domain/time.js";
import type { Services } from "../services.js";
import { perStore } from "../storage/database.js";
import { noteAnswered, readUsageClock } from "../usage/clock.js";
import {
  type AggregateQuery,
  type AggregateRow,
  fetchAggregates,
  type InstanceRow,
  instancesBySeq,
  type RowKey,
  usageRange,
} from "../usage/query.js";
import { directTenantSeqs, directTenantWindow } from "../usage/scope.js";
import { closedUntil } from "../usage/service.js";
import { invalidProperty, UsageApiError } from "./errors.js";
import type { AzureQuery } from "./request.js";
import type { TokenState } from "./token.js";

type Deps = Pick<Services, "store" | "clock" | "catalog" | "logger" | "metrics" | "config" | "usageGate">;

/** Whose usage a query reads, as authorized by the route. */
export type UsageTarget =
  /** Tenant API: the subscription in the path, and only it. */
  | { kind: "tenant"; subscription: SubscriptionKeys }
  /** Operator API: the direct tenants of the provider whose provider subscription is in the path. */
  | { kind: "operator"; provider: ProviderKeys };

/** An instance's part of the answer, built once per instance and page. */
export interface InstanceText {
  /** `instanceData` as a JSON string literal (quotes and escapes included), ready to be written. */
  json: string;
  /** 16 hex digits of the instance's content hash: part of the item's unique name. */
  tag: string;
}

/**
 * One page of aggregates with what the wire form needs to name them: public subscription ids,
 * catalogue meter ids and instance texts, by internal key. The serializer writes straight from
 * this, so a page allocates no per-item objects beyond the rows themselves.
 */
export interface AzurePage {
  rows: AggregateRow[];
  subscriptions: ReadonlyMap<number, string>;
  meters: ReadonlyMap<number, string>;
  instances: ReadonlyMap<number, InstanceText>;
  /** The state to continue from, when more aggregates follow. */
  next: TokenState | null;
}

/**
 * The one subscription a query reads, when it names one: the tenant API's, or the direct tenant
 * `subscriberId` names (deleted ones included, the provider's own provider subscription
 * excluded), undefined when it is none. Both are known facts by now (see `KnownScopes`).
 */
async function singleScope(deps: Deps, target: UsageTarget, q: AzureQuery): Promise<number | undefined> {
  if (target.kind === "tenant") return target.subscription.seq;
  return (await directTenantKeys(deps.store, target.provider, q.subscriberId!))?.seq;
}

/**
 * What this process already knows of the usage clock: both watermarks only ever move one way
 * (`closedUntil` up, `answeredFrom` down), so a value seen once stays true, and a page of a window
 * already known to be closed and answered needs no look at the clock table. The usage range of an
 * answered window is final too (no import may reach it any more): looked up once per window.
 */
interface Known {
  closedUntil: number;
  answeredFrom: number | null;
  ranges: Map<string, { lo: number; hi: number } | undefined>;
}
const knownOf = perStore((): Known => ({ closedUntil: 0, answeredFrom: null, ranges: new Map() }));

/**
 * A reported window is answerable once every hour in it is closed (sealed and aggregated): its
 * answer is then final. An end in the future, or one whose processing is not complete yet,
 * is refused with `RequestEndTimeIsInFuture` rather than answered partially, because a collector
 * walking consecutive windows would otherwise miss what arrives later in that window. The window
 * is then noted as answered, so that history imports can never change it.
 */
async function requireClosedAndAnswered(deps: Deps, q: AzureQuery): Promise<void> {
  const now = deps.clock.now();
  if (q.to > now)
    throw new UsageApiError(
      400,
      "RequestEndTimeIsInFuture",
      `The reportedEndTime ${toIso(q.to)} is in the future (it is ${toIso(now)}).`,
    );
  const k = knownOf(deps.store);
  if (q.to <= k.closedUntil && k.answeredFrom !== null && k.answeredFrom <= q.from) return;
  const c = await readUsageClock(deps.store.db);
  const closed = q.to <= c.closedUntil ? c.closedUntil : await closedUntil(deps, q.to);
  k.closedUntil = Math.max(k.closedUntil, closed);
  if (q.to > closed)
    throw new UsageApiError(
      400,
      "RequestEndTimeIsInFuture",
      `Processing of the usage reported before ${toIso(q.to)} is not complete: reported time is final up to ` +
        `${toIso(closed)}. Ask again after ${toIso(q.to + deps.config.sealDelayMs)}.`,
    );
  // A no-op write, skipped, when an earlier answer already covered this window's start.
  if (c.answeredFrom === null || c.answeredFrom > q.from) await noteAnswered(deps.store.db, q.from);
  k.answeredFrom = Math.min(k.answeredFrom ?? q.from, c.answeredFrom ?? q.from, q.from);
}

/** The usage range of an answered window, from memory after the first look. */
async function rangeOf(deps: Deps, q: AzureQuery) {
  const k = knownOf(deps.store);
  const key = `${q.granularity}|${q.from}|${q.to}`;
  if (k.ranges.has(key)) return k.ranges.get(key);
  const r = await usageRange(deps.store, {
    basis: "reported",
    granularity: q.granularity,
    from: q.from,
    to: q.to,
  });
  if (k.ranges.size >= 10_000) k.ranges.clear();
  k.ranges.set(key, r);
  return r;
}

const jsonOrNull = (s: string | null) => (s === null || s === "" ? "null" : s);

/** The instances of a page's rows, as they are written. */
function instanceTexts(instances: ReadonlyMap<number, InstanceRow>): Map<number, InstanceText> {
  const out = new Map<number, InstanceText>();
  for (const [seq, r] of instances) {
    // tags and additionalInfo are stored as compact JSON text and embedded as they are (every
    // digit of their numbers kept); key order and nulls as the documentation's example (§2.7).
    const data =
      `{"Microsoft.Resources":{"resourceUri":${JSON.stringify(r.resourceUri)},` +
      `"location":${r.location === null ? "null" : JSON.stringify(r.location)},` +
      `"tags":${jsonOrNull(r.tags)},"additionalInfo":${jsonOrNull(r.additionalInfo)}}}`;
    out.set(seq, { json: JSON.stringify(data), tag: r.hash.slice(0, 16) });
  }
  return out;
}

/**
 * The rows of one page. The tenant API reads one subscription, and so does the operator API given
 * a `subscriberId`. Otherwise the provider may have thousands of direct tenants: their keys are
 * loaded a window at a time from the continuation key on (64, then growing), and each window read
 * with the shared aggregate query, until the page is full or the tenants run out.
 */
async function pageRows(
  deps: Deps,
  target: UsageTarget,
  q: AzureQuery,
  limit: number,
): Promise<AggregateRow[]> {
  const range = await rangeOf(deps, q);
  const query = (subscriptionSeqs: number[]): AggregateQuery => ({
    basis: "reported",
    granularity: q.granularity,
    from: q.from,
    to: q.to,
    subscriptionSeqs,
    groupBy: "instance",
    range,
  });
  if (target.kind === "tenant" || q.subscriberId !== undefined) {
    const seq = await singleScope(deps, target, q);
    if (seq === undefined)
      throw new UsageApiError(
        400,
        "SubscriberIdIsNotDirectTenant",
        `The subscription '${q.subscriberId}' is not a direct tenant of the provider subscription '${q.pathSubscriptionId}'.`,
      );
    if (q.after !== null && q.after[0] !== seq)
      throw invalidProperty("The continuationToken belongs to another query.");
    return fetchAggregates(deps.store, query([seq]), q.after, limit);
  }
  // The operator API's direct tenants, from the repository a window of keys at a time.
  const provider = { id: target.provider.id, subscriptionId: target.provider.subscription_id };
  const out: AggregateRow[] = [];
  let after: RowKey | null = q.after;
  let fromSeq = after === null ? 0 : after[0];
  let size = 64;
  if (after !== null && deps.store.dialect === "postgres") {
    // The continuation and its window of tenants in one statement (one round trip): the page
    // is nearly always full from there; when it is not, the loop below goes on after the window.
    const window = { fromSeq, limit: size };
    out.push(
      ...(await fetchAggregates(
        deps.store,
        { ...query([]), subscriptionWindow: directTenantWindow(deps.store.db, provider, window) },
        after,
        limit,
      )),
    );
    if (out.length >= limit) return out;
    const seqs = await directTenantSeqs(deps.store, provider, window);
    if (seqs.length < size) return out;
    fromSeq = seqs.at(-1)! + 1;
    after = null;
    size *= 4;
  }
  for (; out.length < limit; size = Math.min(size * 4, 4096)) {
    const seqs = await directTenantSeqs(deps.store, provider, { fromSeq, limit: size });
    if (seqs.length === 0) break;
    // fetchAggregates continues inside the key's subscription: only while that one is in scope.
    if (after !== null && seqs[0] !== after[0]) after = null;
    out.push(...(await fetchAggregates(deps.store, query(seqs), after, limit - out.length)));
    if (seqs.length < size) break;
    fromSeq = seqs.at(-1)! + 1;
    after = null;
  }
  return out;
}

/** What a page needs from the database: its rows (one more than a page, to know whether more follow) and their instances. */
interface PageRead {
  rows: AggregateRow[];
  instances: Map<number, InstanceRow>;
}

async function readPage(deps: Deps, target: UsageTarget, q: AzureQuery, limit: number): Promise<PageRead> {
  const rows = await pageRows(deps, target, q, limit);
  return {
    rows,
    instances: await instancesBySeq(
      deps.store,
      rows.map((r) => r.key[3]),
    ),
  };
}

/**
 * Read-ahead, on PostgreSQL. A client walking nextLink (the SDKs' `listNext` and `byPage`,
 * `Get-AzsSubscriberUsage`, `tally usage aggregates --all`) next asks for the page after the one
 * it was just given, and that page's rows are already decided: the window is closed, so its key
 * continues it exactly (see `answerPage`). So while the page is written and read, the database
 * reads the next one (rows and instances, `readPage`) on a connection of its own, and the request
 * for it takes that read instead of reading again: the statement (2–3 ms of a 4–7 ms page) leaves
 * a walk's path. Only with
 * capacity to spare: nothing waiting at the gate, and fewer queries and read-aheads running than
 * its slots; at most `AHEAD_PAGES` kept, each for `AHEAD_TTL_MS`. Not on SQLite, whose reads run
 * on the event loop, which must write the page first. The request is authorized as any other;
 * a node that did not read ahead (several nodes behind a balancer) simply reads.
 */
interface Ahead {
  pages: Map<string, { started: number; read: Promise<PageRead> }>;
  running: number;
}
const aheadOf = perStore((): Ahead => ({ pages: new Map(), running: 0 }));
const AHEAD_PAGES = 32;
const AHEAD_TTL_MS = 30_000;

/** What a page's rows depend on: whose usage, the window, and the key it continues from. */
function aheadKey(target: UsageTarget, q: AzureQuery, after: RowKey): string {
  const scope = target.kind === "tenant" ? `t${target.subscription.seq}` : `p${target.provider.id}`;
  return `${scope}|${q.subscriberId ?? ""}|${q.granularity}|${q.from}|${q.to}|${after.join(",")}`;
}

/** The page read ahead for this continuation, if this process read it (taken: each serves once). */
function takeReadAhead(deps: Deps, target: UsageTarget, q: AzureQuery): Promise<PageRead> | undefined {
  if (q.after === null) return undefined;
  const a = aheadOf(deps.store);
  const key = aheadKey(target, q, q.after);
  const hit = a.pages.get(key);
  if (hit === undefined) return undefined;
  a.pages.delete(key);
  if (performance.now() - hit.started > AHEAD_TTL_MS) {
    deps.metrics.usageReadAhead.inc({ outcome: "expired" });
    return undefined;
  }
  deps.metrics.usageReadAhead.inc({ outcome: "used" });
  return hit.read;
}

/** Starts reading the page after `after`, when there is capacity to spare (see `Ahead`). */
function readAhead(deps: Deps, target: UsageTarget, q: AzureQuery, after: RowKey, limit: number): void {
  if (deps.store.dialect !== "postgres") return;
  const a = aheadOf(deps.store);
  const gate = deps.usageGate;
  if (gate.queued > 0 || gate.inFlight + a.running >= gate.limit) return;
  const now = performance.now();
  for (const [key, p] of a.pages) {
    if (now - p.started <= AHEAD_TTL_MS) break; // kept in the order they started
    a.pages.delete(key);
    deps.metrics.usageReadAhead.inc({ outcome: "expired" });
  }
  const key = aheadKey(target, q, after);
  if (a.pages.size >= AHEAD_PAGES || a.pages.has(key)) return;
  a.running++;
  const read = readPage(deps, target, { ...q, after }, limit).finally(() => {
    a.running--;
  });
  // A failed read-ahead is read again by the request that would have taken it.
  read.catch(() => undefined);
  a.pages.set(key, { started: now, read });
  deps.metrics.usageReadAhead.inc({ outcome: "started" });
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
  await requireClosedAndAnswered(deps, q);
  const ahead = takeReadAhead(deps, target, q);
  const read = await (ahead?.catch(() => readPage(deps, target, q, limit + 1)) ??
    readPage(deps, target, q, limit + 1));
  const more = read.rows.length > limit;
  const rows = more ? read.rows.slice(0, limit) : read.rows;
  const last = rows.at(-1);
  if (more && last) readAhead(deps, target, q, last.key, limit + 1);
  const subscriptions = await deps.catalog.subscriptionIds(new Set(rows.map((r) => r.key[0])));
  const meters = new Map<number, string>();
  for (const m of new Set(rows.map((r) => r.key[2]))) {
    const meter = await deps.catalog.meterBySeq(m);
    if (!meter) throw new Error(`meter seq ${m} is not in the catalogue`);
    meters.set(m, meter.id);
  }
  const instances = instanceTexts(read.instances);
  return {
    rows,
    subscriptions,
    meters,
    instances,
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
