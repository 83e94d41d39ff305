import type { Kysely } from "kysely";
import {
  BRIDGE_INFO,
  batchKey,
  eventDateTime,
  forwardedRecordId,
  partition,
  WINDOW,
} from "../domain/bridge.js";
import { formatQuantity, joinQuantity } from "../domain/quantity.js";
import { toIso } from "../domain/time.js";
import type { Services } from "../services.js";
import type { DB } from "../storage/schema.js";
import { type AggregateRow, fetchAggregates, instancesBySeq, type RowKey } from "../usage/query.js";
import { subscriptionSeqs } from "../usage/scope.js";
import type { RegistrationRow } from "./repository.js";

type Deps = Pick<Services, "store" | "catalog">;

/** A batch as it is frozen in the outbox. */
export interface BuiltBatch {
  part: number;
  idempotencyKey: string;
  upstreamSubscriptionId: string;
  records: number;
  /** The records, a JSON array. */
  body: string;
}

/** The record tally forwards for one aggregate: the ingest API's record shape. */
export interface ForwardedRecord {
  id: string;
  subscriptionId: string;
  meterId: string;
  quantity: string;
  usageStartTime: string;
  usageEndTime: string;
  resourceUri: string;
  location?: string;
  tags?: Record<string, string>;
  additionalInfo: Record<string, string>;
}

const PAGE = 5_000;
/** Well below a hub's default 16 MiB body limit, whatever the tags weigh. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

async function subscriptionsOf(db: Kysely<DB>, seqs: number[]) {
  const out = new Map<number, { id: string; directoryId: string }>();
  for (let i = 0; i < seqs.length; i += 500) {
    const rows = await db
      .selectFrom("subscriptions")
      .select(["seq", "id", "directory_id"])
      .where("seq", "in", seqs.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(Number(r.seq), { id: r.id, directoryId: r.directory_id });
  }
  return out;
}

/**
 * Reads one closed reported hour's aggregates (every subscription, per usage hour, meter and
 * instance) and turns them into the records to forward, each charged to the upstream subscription
 * of its tenant (`tenants`: directory → customer subscription) or to the default one. The caller
 * must have noted the window as answered first.
 */
export async function forwardedRecords(
  deps: Deps,
  reg: RegistrationRow,
  tenants: ReadonlyMap<string, string>,
  windowStart: number,
): Promise<ForwardedRecord[]> {
  const seqs = await subscriptionSeqs(deps.store.db, "all", {});
  const q = {
    basis: "reported" as const,
    granularity: "hourly" as const,
    from: windowStart,
    to: windowStart + WINDOW,
    subscriptionSeqs: seqs,
    groupBy: "instance" as const,
  };
  const out: ForwardedRecord[] = [];
  let after: RowKey | null = null;
  for (;;) {
    const rows: AggregateRow[] = await fetchAggregates(deps.store, q, after, PAGE);
    if (rows.length === 0) break;
    after = rows.at(-1)!.key;
    const subs = await subscriptionsOf(deps.store.db, [...new Set(rows.map((r) => r.key[0]))]);
    const instances = await instancesBySeq(
      deps.store,
      rows.map((r) => r.key[3]),
    );
    for (const r of rows) {
      const [s, usageHour, m, i] = r.key;
      const sub = subs.get(s);
      const meter = await deps.catalog.meterBySeq(m);
      const inst = instances.get(i);
      if (!sub || !meter || !inst) throw new Error(`aggregate ${r.key.join("/")} refers to a missing row`);
      const info: Record<string, string> = {
        [BRIDGE_INFO.meterId]: meter.id,
        [BRIDGE_INFO.subscriptionId]: sub.id,
        ...(inst.location !== null ? { [BRIDGE_INFO.location]: inst.location } : {}),
        [BRIDGE_INFO.eventDateTime]: eventDateTime(usageHour),
        [BRIDGE_INFO.cloudId]: reg.cloud_id,
        [BRIDGE_INFO.billingModel]: reg.billing_model,
        [BRIDGE_INFO.reportedHour]: toIso(windowStart),
      };
      out.push({
        id: forwardedRecordId({
          cloudId: reg.cloud_id,
          reportedHour: windowStart,
          subscriptionId: sub.id,
          usageHour,
          meterKey: meter.key,
          instanceHash: inst.hash,
        }),
        subscriptionId: tenants.get(sub.directoryId) ?? reg.default_subscription_id,
        meterId: meter.id,
        quantity: formatQuantity(joinQuantity(r.units, r.frac)),
        usageStartTime: toIso(usageHour),
        usageEndTime: toIso(usageHour + WINDOW),
        resourceUri: inst.resourceUri,
        ...(inst.location !== null ? { location: inst.location } : {}),
        ...(inst.tags !== null ? { tags: JSON.parse(inst.tags) as Record<string, string> } : {}),
        additionalInfo: info,
      });
    }
    if (rows.length < PAGE) break;
  }
  return out;
}

/**
 * Groups a window's records by upstream subscription and cuts them into batches of at most
 * `maxRecords` records, numbered across the window; each batch gets its idempotency key.
 */
export function toBatches(
  cloudId: string,
  windowStart: number,
  records: readonly ForwardedRecord[],
  maxRecords: number,
  firstPart = 0,
): BuiltBatch[] {
  const bySub = new Map<string, { json: string; bytes: number }[]>();
  for (const r of records) {
    const json = JSON.stringify(r);
    const list = bySub.get(r.subscriptionId) ?? [];
    list.push({ json, bytes: Buffer.byteLength(json) + 1 });
    bySub.set(r.subscriptionId, list);
  }
  const batches: BuiltBatch[] = [];
  for (const sub of [...bySub.keys()].sort()) {
    for (const part of partition(bySub.get(sub)!, maxRecords, MAX_BATCH_BYTES, (x) => x.bytes)) {
      const n = firstPart + batches.length;
      batches.push({
        part: n,
        idempotencyKey: batchKey(cloudId, windowStart, n),
        upstreamSubscriptionId: sub,
        records: part.length,
        body: `[${part.map((x) => x.json).join(",")}]`,
      });
    }
  }
  return batches;
}
