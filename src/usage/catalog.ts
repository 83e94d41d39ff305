import type { Kysely } from "kysely";
import type { Clock } from "../clock.js";
import type { DB } from "../storage/schema.js";

export interface SubscriptionRef {
  seq: number;
  id: string;
  state: "Active" | "Disabled" | "Deleted";
  deletedAt: number | null;
  providerId: string;
  directoryId: string;
}

export interface MeterRef {
  seq: number;
  key: string;
  id: string;
  name: string;
  unit: string;
  category: string;
}

const SUBSCRIPTION_TTL_MS = 10_000;
const METER_RELOAD_MS = 2_000;
/** Subscription keys read together on a miss (`subscriptionIds`). */
const ID_BLOCK = 256;

/**
 * Resolves public ids to the internal keys of the usage tables and back, with small caches:
 * meters are few and reloaded on a miss; subscriptions are looked up on a miss and kept for a
 * few seconds (a state change is seen within that time on every node).
 */
export class UsageCatalog {
  private meters = new Map<string, MeterRef>();
  private metersBySeq = new Map<number, MeterRef>();
  private metersLoadedAt = Number.NEGATIVE_INFINITY;
  private subs = new Map<string, { ref: SubscriptionRef; until: number }>();
  private subsBySeq = new Map<number, string>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
  ) {}

  private async loadMeters(): Promise<void> {
    const rows = await this.db
      .selectFrom("meters")
      .select(["seq", "key", "id", "name", "unit", "category"])
      .execute();
    this.meters = new Map(rows.map((r) => [r.key, { ...r, seq: Number(r.seq) }]));
    this.metersBySeq = new Map([...this.meters.values()].map((m) => [m.seq, m]));
    this.metersLoadedAt = this.clock.now();
  }

  /** Meters by normalised key; unknown keys are absent from the answer. */
  async metersByKey(keys: Iterable<string>): Promise<Map<string, MeterRef>> {
    const wanted = [...new Set(keys)];
    if (wanted.some((k) => !this.meters.has(k)) && this.clock.now() - this.metersLoadedAt > METER_RELOAD_MS) {
      await this.loadMeters();
    }
    const out = new Map<string, MeterRef>();
    for (const k of wanted) {
      const m = this.meters.get(k);
      if (m) out.set(k, m);
    }
    return out;
  }

  async meterBySeq(seq: number): Promise<MeterRef | undefined> {
    if (!this.metersBySeq.has(seq)) await this.loadMeters();
    return this.metersBySeq.get(seq);
  }

  /** Subscriptions by canonical id; unknown ids are absent from the answer. */
  async subscriptions(ids: Iterable<string>): Promise<Map<string, SubscriptionRef>> {
    const now = this.clock.now();
    const out = new Map<string, SubscriptionRef>();
    const missing = new Set<string>();
    for (const id of ids) {
      if (out.has(id)) continue;
      const hit = this.subs.get(id);
      if (hit && hit.until > now) out.set(id, hit.ref);
      else missing.add(id);
    }
    const wanted = [...missing];
    for (let i = 0; i < wanted.length; i += 500) {
      const rows = await this.db
        .selectFrom("subscriptions")
        .select(["seq", "id", "state", "deleted_at", "provider_id", "directory_id"])
        .where("id", "in", wanted.slice(i, i + 500))
        .execute();
      for (const r of rows) {
        const ref: SubscriptionRef = {
          seq: Number(r.seq),
          id: r.id,
          state: r.state,
          deletedAt: r.deleted_at,
          providerId: r.provider_id,
          directoryId: r.directory_id,
        };
        if (this.subs.size > 200_000) this.subs.clear();
        this.subs.set(r.id, { ref, until: now + SUBSCRIPTION_TTL_MS });
        this.subsBySeq.set(ref.seq, r.id);
        out.set(r.id, ref);
      }
    }
    return out;
  }

  /**
   * Public ids of subscriptions by internal key. The mapping never changes, so a miss reads the
   * whole block of keys around it: a walk over many subscriptions (the operator's usage pages)
   * costs a lookup per block, not one per subscription.
   */
  async subscriptionIds(seqs: Iterable<number>): Promise<Map<number, string>> {
    const blocks = new Set<number>();
    for (const s of seqs) if (!this.subsBySeq.has(s)) blocks.add(Math.floor(s / ID_BLOCK));
    if (blocks.size > 0 && this.subsBySeq.size > 1_000_000) this.subsBySeq.clear();
    for (const b of blocks) {
      const rows = await this.db
        .selectFrom("subscriptions")
        .select(["seq", "id"])
        .where("seq", ">=", b * ID_BLOCK)
        .where("seq", "<", (b + 1) * ID_BLOCK)
        .execute();
      for (const r of rows) this.subsBySeq.set(Number(r.seq), r.id);
    }
    const out = new Map<number, string>();
    for (const s of seqs) {
      const id = this.subsBySeq.get(s);
      if (id !== undefined) out.set(s, id);
    }
    return out;
  }
}
