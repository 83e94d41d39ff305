import { type Actor, appendAudit } from "../audit/repository.js";
import { BRIDGE_INFO } from "../domain/bridge.js";
import { DomainError, notFound } from "../domain/errors.js";
import { toIso } from "../domain/time.js";
import type { Services } from "../services.js";
import { findBridgeState, findRegistration, queuedBatches, tenantMap } from "./repository.js";
import { type ForwardedRecord, toBatches } from "./window.js";

type Deps = Pick<Services, "store" | "clock" | "config">;

export interface RemapResult {
  windowStart: string;
  batches: number;
  records: number;
  /** Records now charged to another upstream subscription than before. */
  moved: number;
}

/**
 * The way out when the upstream keeps refusing the window in flight because of where its records
 * are charged (a customer subscription cancelled upstream, say): re-charges the window's
 * undelivered records with the customer subscriptions and default subscription in force now.
 * Record ids stay the same; batches already acknowledged are left alone.
 */
export async function remapWindowInFlight(deps: Deps, actor: Actor): Promise<RemapResult> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const reg = await findRegistration(trx);
    if (!reg) throw notFound("registration", "(this cloud's)");
    const state = await findBridgeState(trx, reg.object_id);
    const queued = await queuedBatches(trx, reg.object_id);
    if (!state || state.window_start === null || queued.length === 0)
      throw new DomainError(
        "Conflict",
        "no window is in flight: every window built so far has been delivered.",
      );
    const windowStart = Number(state.window_start);
    const records = queued.flatMap((b) => JSON.parse(b.body ?? "[]") as ForwardedRecord[]);
    const locals = [...new Set(records.map((r) => r.additionalInfo[BRIDGE_INFO.subscriptionId]!))];
    const dirs = new Map(
      (
        await trx
          .selectFrom("subscriptions")
          .select(["id", "directory_id"])
          .where("id", "in", locals)
          .execute()
      ).map((s) => [s.id, s.directory_id]),
    );
    const tenants = await tenantMap(trx, reg.object_id);
    let moved = 0;
    for (const r of records) {
      const dir = dirs.get(r.additionalInfo[BRIDGE_INFO.subscriptionId]!);
      const target = (dir !== undefined ? tenants.get(dir) : undefined) ?? reg.default_subscription_id;
      if (target !== r.subscriptionId) moved++;
      r.subscriptionId = target;
    }
    const last = await trx
      .selectFrom("bridge_batches")
      .select((eb) => eb.fn.max("part").as("p"))
      .where("registration_id", "=", reg.object_id)
      .where("window_start", "=", windowStart)
      .executeTakeFirst();
    const batches = toBatches(
      reg.cloud_id,
      windowStart,
      records,
      deps.config.bridgeBatchRecords,
      Number(last?.p ?? 0) + 1,
    );
    await trx
      .deleteFrom("bridge_batches")
      .where("registration_id", "=", reg.object_id)
      .where("window_start", "=", windowStart)
      .where("delivered_at", "is", null)
      .execute();
    await trx
      .insertInto("bridge_batches")
      .values(
        batches.map((b) => ({
          registration_id: reg.object_id,
          window_start: windowStart,
          part: b.part,
          idempotency_key: b.idempotencyKey,
          upstream_subscription_id: b.upstreamSubscriptionId,
          records: b.records,
          body: b.body,
          created_at: now,
        })),
      )
      .execute();
    await trx
      .updateTable("bridge_state")
      .set({ failures: 0, next_attempt_at: null })
      .where("registration_id", "=", reg.object_id)
      .execute();
    await appendAudit(trx, actor, now, {
      action: "bridge/write",
      target: "/bridge",
      details: {
        op: "remap",
        windowStart: toIso(windowStart),
        batches: batches.length,
        records: records.length,
        moved,
      },
    });
    return { windowStart: toIso(windowStart), batches: batches.length, records: records.length, moved };
  });
}
