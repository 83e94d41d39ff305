import { createHash } from "node:crypto";
import { decodeCursor, encodeCursor } from "../domain/cursor.js";
import { DomainError } from "../domain/errors.js";
import { meterKey } from "../domain/ids.js";
import { formatQuantity, joinQuantity } from "../domain/quantity.js";
import type { SubscriptionScope } from "../domain/scope.js";
import { DAY, floorHour, HOUR, toIso } from "../domain/time.js";
import type { Services } from "../services.js";
import { noteAnswered, readUsageClock } from "./clock.js";
import {
  type AggregateQuery,
  type AggregateRow,
  fetchAggregates,
  type Granularity,
  type GroupBy,
  type InstanceRow,
  instancesBySeq,
  type RowKey,
  type TimeBasis,
} from "./query.js";
import { closeHours } from "./rollup.js";
import { type SubscriptionFilter, subscriptionSeqs } from "./scope.js";

export interface UsageQueryParams {
  from: number;
  to: number;
  basis: TimeBasis;
  granularity: Granularity;
  groupBy: GroupBy;
  subscriptionId?: string;
  meterId?: string;
  directoryId?: string;
  providerId?: string;
  limit: number;
  cursor?: string;
}

export interface UsageItem {
  subscriptionId: string;
  meterId: string | null;
  usageStartTime: string;
  usageEndTime: string;
  quantity: string;
  instance?: {
    resourceUri: string;
    location: string | null;
    tags: Record<string, string> | null;
    additionalInfo: unknown;
  };
}

export interface UsagePage {
  items: UsageItem[];
  nextCursor: string | null;
  /** Reported time up to which everything is aggregated and final. */
  closedUntil: string;
}

type Deps = Pick<Services, "store" | "clock" | "catalog" | "logger" | "metrics" | "config">;

const bad = (field: string, reason: string) =>
  new DomainError("ValidationFailed", `${field}: ${reason}`, [{ field, reason }]);

/**
 * Makes sure every reported hour before `to` that can be closed is closed, and answers the
 * watermark. Queries call it so that an hour is answerable as soon as it is sealed, not only after
 * the background loop's next pass.
 */
export async function closedUntil(deps: Deps, to: number): Promise<number> {
  const c = await readUsageClock(deps.store.db);
  if (to <= c.closedUntil) return c.closedUntil;
  const closable = floorHour(deps.clock.now() - deps.config.sealDelayMs);
  if (closable <= c.closedUntil && c.sealedUntil <= c.closedUntil) return c.closedUntil;
  return (await closeHours(deps)).closedUntil;
}

function fingerprint(p: UsageQueryParams): string {
  const { limit: _l, cursor: _c, ...rest } = p;
  return createHash("sha256").update(JSON.stringify(rest)).digest("base64url").slice(0, 12);
}

/** Maps aggregate rows to API items: public ids, catalogue meter ids, ISO times, exact quantities. */
export async function toItems(
  deps: Deps,
  rows: AggregateRow[],
  granularity: Granularity,
  withInstance: boolean,
): Promise<UsageItem[]> {
  const subIds = await deps.catalog.subscriptionIds(rows.map((r) => r.key[0]));
  const instances = withInstance
    ? await instancesBySeq(
        deps.store,
        rows.map((r) => r.key[3]),
      )
    : new Map<number, InstanceRow>();
  const size = granularity === "hourly" ? HOUR : DAY;
  const items: UsageItem[] = [];
  for (const r of rows) {
    const [s, b, m, i] = r.key;
    const meter = m >= 0 ? await deps.catalog.meterBySeq(m) : undefined;
    const item: UsageItem = {
      subscriptionId: subIds.get(s) ?? "",
      meterId: meter?.id ?? null,
      usageStartTime: toIso(b),
      usageEndTime: toIso(b + size),
      quantity: formatQuantity(joinQuantity(r.units, r.frac)),
    };
    if (withInstance) {
      const inst = instances.get(i);
      item.instance = {
        resourceUri: inst?.resourceUri ?? "",
        location: inst?.location ?? null,
        tags: inst?.tags ? (JSON.parse(inst.tags) as Record<string, string>) : null,
        additionalInfo: inst?.additionalInfo ? JSON.parse(inst.additionalInfo) : null,
      };
    }
    items.push(item);
  }
  return items;
}

/**
 * The native usage query: a window on reported or usage time, hourly or daily buckets, scoped to
 * what the caller may see. Reported windows must be closed (their answer is final); usage windows
 * answer from every closed reported hour.
 */
export async function queryUsage(
  deps: Deps,
  scope: SubscriptionScope,
  p: UsageQueryParams,
): Promise<UsagePage> {
  const size = p.granularity === "hourly" ? HOUR : DAY;
  if (p.to <= p.from) throw bad("to", "must be after from");
  if (p.from % size !== 0)
    throw bad("from", `must be on a ${p.granularity === "hourly" ? "whole hour" : "UTC midnight"}`);
  if (p.to % size !== 0)
    throw bad("to", `must be on a ${p.granularity === "hourly" ? "whole hour" : "UTC midnight"}`);

  const closed = await closedUntil(deps, p.to);
  if (p.basis === "reported" && p.to > closed) {
    throw new DomainError(
      "WindowNotClosed",
      `reported time up to ${toIso(closed)} is closed; the window ends at ${toIso(p.to)}. Ask again after that hour is sealed.`,
      undefined,
      { closedUntil: toIso(closed) },
    );
  }

  const fp = fingerprint(p);
  let after: RowKey | null = null;
  if (p.cursor !== undefined) {
    const [f, s, b, m, i] = decodeCursor(p.cursor, ["string", "number", "number", "number", "number"]);
    if (f !== fp)
      throw new DomainError(
        "InvalidCursor",
        "the cursor belongs to another query; repeat the query's parameters with it.",
      );
    after = [s, b, m, i];
  }

  let meterSeq: number | undefined;
  if (p.meterId !== undefined) {
    const key = meterKey(p.meterId);
    const meter = key === undefined ? undefined : (await deps.catalog.metersByKey([key])).get(key);
    if (!meter) throw bad("meterId", "is not a meter of the catalogue");
    meterSeq = meter.seq;
  }
  const filter: SubscriptionFilter = {
    ...(p.subscriptionId !== undefined ? { subscriptionId: p.subscriptionId } : {}),
    ...(p.directoryId !== undefined ? { directoryId: p.directoryId } : {}),
    ...(p.providerId !== undefined ? { providerId: p.providerId } : {}),
  };
  const seqs = await subscriptionSeqs(deps.store.db, scope, filter);
  const q: AggregateQuery = {
    basis: p.basis,
    granularity: p.granularity,
    from: p.from,
    to: p.to,
    subscriptionSeqs: seqs,
    groupBy: p.groupBy,
    ...(meterSeq !== undefined ? { meterSeq } : {}),
  };
  if (p.basis === "reported") await noteAnswered(deps.store.db, p.from);
  const rows = await fetchAggregates(deps.store, q, after, p.limit + 1);
  const more = rows.length > p.limit;
  const page = more ? rows.slice(0, p.limit) : rows;
  const last = page.at(-1);
  return {
    items: await toItems(deps, page, p.granularity, p.groupBy === "instance"),
    nextCursor: more && last ? encodeCursor([fp, ...last.key]) : null,
    closedUntil: toIso(closed),
  };
}
