import { backoffMs, type DeliveryErrorCategory, WINDOW } from "../domain/bridge.js";
import { toIso } from "../domain/time.js";
import { type Loop, startLoop } from "../loop.js";
import type { Services } from "../services.js";
import { acquireLease, leaseOwner, releaseLease } from "../storage/lease.js";
import { noteAnswered } from "../usage/clock.js";
import { closedUntil } from "../usage/service.js";
import {
  type BatchRow,
  type BridgeStateRow,
  findBridgeState,
  findRegistration,
  queuedBatches,
  type RegistrationRow,
  tenantMap,
} from "./repository.js";
import { SecretUnavailable } from "./secrets.js";
import { refreshMetrics } from "./status.js";
import { DeliveryFailure, deliver, type UpstreamTarget } from "./upstream.js";
import { forwardedRecords, toBatches } from "./window.js";

export type BridgeDeps = Pick<
  Services,
  "store" | "clock" | "catalog" | "logger" | "metrics" | "config" | "secrets"
>;

export const LEASE = "bridge";
/** Long enough to outlive one delivery attempt; renewed before each batch. */
const leaseTtl = (deps: BridgeDeps) => Math.max(60_000, 2 * deps.config.bridgeTimeoutMs);

export interface RunResult {
  /** What stopped the run: caught up, waiting for a retry, an error, or nothing to do. */
  outcome: "UpToDate" | "NotRegistered" | "ReportingDisabled" | "Waiting" | "Failed" | "Busy";
  windows: number;
  batches: number;
  records: number;
  forwardedUntil: string | null;
  error: { category: DeliveryErrorCategory; message: string } | null;
}

interface Progress {
  windows: number;
  batches: number;
  records: number;
}

function targetOf(deps: BridgeDeps, reg: RegistrationRow): UpstreamTarget {
  if (reg.upstream_url === null || reg.upstream_credential === null)
    throw new DeliveryFailure("LoginError", "the registration has no upstream URL or credential");
  let credential: string;
  try {
    credential = deps.secrets.open(reg.upstream_credential, reg.object_id);
  } catch (e) {
    if (e instanceof SecretUnavailable) throw new DeliveryFailure("LoginError", e.message);
    throw e;
  }
  return {
    type: reg.upstream_type,
    url: reg.upstream_url,
    credential,
    cloudId: reg.cloud_id,
    registrationName: reg.name,
    billingModel: reg.billing_model,
  };
}

async function recordFailure(
  deps: BridgeDeps,
  reg: RegistrationRow,
  state: BridgeStateRow,
  f: DeliveryFailure,
) {
  const now = deps.clock.now();
  const failures = Number(state.failures) + 1;
  const wait = backoffMs(failures, deps.config.bridgeRetryMaxMs, Math.random());
  await deps.store.db
    .updateTable("bridge_state")
    .set({
      failures,
      next_attempt_at: now + wait,
      last_attempt_at: now,
      last_error_category: f.category,
      last_error_message: f.message.slice(0, 2000),
      last_error_at: now,
    })
    .where("registration_id", "=", reg.object_id)
    .execute();
  deps.metrics.bridgeDeliveries.inc({ outcome: "failed", category: f.category });
  deps.logger.warn(
    { registration: reg.name, category: f.category, failures, retryInMs: wait },
    `usage bridge: delivery failed: ${f.message}`,
  );
}

/** Sends the window in flight's queued batches in order; false when one failed (retry later). */
async function sendQueued(
  deps: BridgeDeps,
  reg: RegistrationRow,
  state: BridgeStateRow,
  queued: BatchRow[],
  owner: string,
  p: Progress,
): Promise<DeliveryFailure | "lost-lease" | null> {
  let target: UpstreamTarget;
  try {
    target = targetOf(deps, reg);
  } catch (e) {
    if (!(e instanceof DeliveryFailure)) throw e;
    await recordFailure(deps, reg, state, e);
    return e;
  }
  const windowStart = Number(queued[0]!.window_start);
  const parts = Number(
    (
      await deps.store.db
        .selectFrom("bridge_batches")
        .select((eb) => eb.fn.countAll().as("n"))
        .where("registration_id", "=", reg.object_id)
        .where("window_start", "=", windowStart)
        .executeTakeFirstOrThrow()
    ).n,
  );
  for (const b of queued) {
    const now = deps.clock.now();
    if (!(await acquireLease(deps.store.db, LEASE, owner, now, leaseTtl(deps)))) return "lost-lease";
    await deps.store.db
      .updateTable("bridge_batches")
      .set({ attempts: Number(b.attempts) + 1 })
      .where("idempotency_key", "=", b.idempotency_key)
      .execute();
    try {
      const ack = await deliver(
        target,
        {
          idempotencyKey: b.idempotency_key,
          windowStart: Number(b.window_start),
          windowEnd: Number(b.window_start) + WINDOW,
          part: Number(b.part),
          parts,
          upstreamSubscriptionId: b.upstream_subscription_id,
          records: Number(b.records),
          recordsJson: b.body ?? "[]",
          attempt: Number(b.attempts) + 1,
        },
        { timeoutMs: deps.config.bridgeTimeoutMs, now },
      );
      const done = deps.clock.now();
      await deps.store.db.transaction().execute(async (trx) => {
        await trx
          .updateTable("bridge_batches")
          .set({ delivered_at: done, body: null })
          .where("idempotency_key", "=", b.idempotency_key)
          .execute();
        await trx
          .updateTable("bridge_state")
          .set({ failures: 0, next_attempt_at: null, last_attempt_at: done, last_success_at: done })
          .where("registration_id", "=", reg.object_id)
          .execute();
      });
      state = { ...state, failures: 0 };
      deps.metrics.bridgeDeliveries.inc({ outcome: "delivered", category: "" });
      if (ack.inserted !== undefined) {
        deps.metrics.bridgeRecords.inc({ outcome: "inserted" }, ack.inserted);
        deps.metrics.bridgeRecords.inc({ outcome: "duplicate" }, ack.duplicates ?? 0);
      } else deps.metrics.bridgeRecords.inc({ outcome: "delivered" }, Number(b.records));
      p.batches++;
      p.records += Number(b.records);
    } catch (e) {
      if (!(e instanceof DeliveryFailure)) throw e;
      await recordFailure(deps, reg, state, e);
      return e;
    }
  }
  return null;
}

/**
 * Freezes the next closed reported window with usage into batches (or, when every closed hour is
 * empty, moves the watermark past them). The tenant mapping and billing model in force now go
 * into the batches; later changes apply to later windows. Answers false when there is nothing to do.
 */
async function buildNextWindow(
  deps: BridgeDeps,
  reg: RegistrationRow,
  state: BridgeStateRow,
  p: Progress,
): Promise<boolean> {
  const from = Number(state.forwarded_until);
  const closed = await closedUntil(deps, Number.MAX_SAFE_INTEGER);
  if (from >= closed) return false;
  // Forwarding answers these windows: from here on, history imports may not change them.
  await noteAnswered(deps.store.db, from);
  const next = await deps.store.db
    .selectFrom("usage_reported_bounds")
    .select((eb) => eb.fn.min("reported_hour").as("h"))
    .where("reported_hour", ">=", from)
    .where("reported_hour", "<", closed)
    .executeTakeFirst();
  const hour = next?.h === null || next?.h === undefined ? null : Number(next.h);
  let batches: ReturnType<typeof toBatches> = [];
  const tenants = await tenantMap(deps.store.db, reg.object_id);
  if (hour !== null) {
    const records = await forwardedRecords(deps, reg, tenants, hour);
    batches = toBatches(reg.cloud_id, hour, records, deps.config.bridgeBatchRecords);
  }
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    // The window was read outside the transaction (not to hold SQLite's write lock that long): if
    // the registration or a mapping changed meanwhile, build it again with what is in force now.
    const current = await findRegistration(trx);
    if (current?.etag !== reg.etag || !sameMap(await tenantMap(trx, reg.object_id), tenants)) return true;
    // Another node moved the state since it was read: look again.
    const moved = await trx
      .updateTable("bridge_state")
      .set(
        hour === null
          ? { forwarded_until: closed }
          : batches.length === 0
            ? { forwarded_until: hour + WINDOW }
            : { forwarded_until: hour, window_start: hour },
      )
      .where("registration_id", "=", reg.object_id)
      .where("forwarded_until", "=", from)
      .where("window_start", "is", null)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) === 0) return true;
    for (let i = 0; i < batches.length; i += 500) {
      await trx
        .insertInto("bridge_batches")
        .values(
          batches.slice(i, i + 500).map((b) => ({
            registration_id: reg.object_id,
            window_start: hour!,
            part: b.part,
            idempotency_key: b.idempotencyKey,
            upstream_subscription_id: b.upstreamSubscriptionId,
            records: b.records,
            body: b.body,
            created_at: now,
          })),
        )
        .execute();
    }
    if (batches.length) p.windows++;
    return true;
  });
}

const sameMap = (a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>) =>
  a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/** Closes the window in flight once all its batches are acknowledged. */
async function completeWindow(deps: BridgeDeps, reg: RegistrationRow, state: BridgeStateRow): Promise<void> {
  const end = Number(state.window_start) + WINDOW;
  await deps.store.db
    .updateTable("bridge_state")
    .set({ forwarded_until: Math.max(end, Number(state.forwarded_until)), window_start: null })
    .where("registration_id", "=", reg.object_id)
    .where("window_start", "=", Number(state.window_start))
    .execute();
}

async function pass(deps: BridgeDeps, owner: string, force: boolean, p: Progress): Promise<RunResult> {
  const result = (
    outcome: RunResult["outcome"],
    fu: number | null,
    error: DeliveryFailure | null = null,
  ) => ({
    outcome,
    ...p,
    forwardedUntil: fu === null ? null : toIso(fu),
    error: error ? { category: error.category, message: error.message } : null,
  });
  for (;;) {
    const reg = await findRegistration(deps.store.db);
    if (!reg) return result("NotRegistered", null);
    const state = await findBridgeState(deps.store.db, reg.object_id);
    if (!state) return result("NotRegistered", null);
    const fu = Number(state.forwarded_until);
    if (reg.usage_reporting_enabled === 0) return result("ReportingDisabled", fu);
    const queued = await queuedBatches(deps.store.db, reg.object_id);
    if (queued.length === 0 && state.window_start !== null) {
      await completeWindow(deps, reg, state);
      continue;
    }
    if (queued.length) {
      if (!force && state.next_attempt_at !== null && Number(state.next_attempt_at) > deps.clock.now())
        return result("Waiting", fu);
      const failed = await sendQueued(deps, reg, state, queued, owner, p);
      if (failed === "lost-lease") return result("Busy", fu);
      if (failed) return result("Failed", fu, failed);
      continue;
    }
    if (!(await buildNextWindow(deps, reg, state, p))) return result("UpToDate", fu);
  }
}

/**
 * Forwards every closed reported window not yet forwarded, in order, each exactly once as far as
 * the upstream can tell (deterministic record ids, per-batch idempotency keys, frozen batches).
 * Takes the bridge lease so that one node works at a time; `force` (an operator's `bridge run`)
 * retries at once instead of waiting for the backoff, and waits a while for a busy lease.
 */
export async function runBridge(
  deps: BridgeDeps,
  opts: { owner: string; force?: boolean },
): Promise<RunResult> {
  const force = opts.force ?? false;
  const p: Progress = { windows: 0, batches: 0, records: 0 };
  const deadline = Date.now() + (force ? leaseTtl(deps) : 0);
  while (!(await acquireLease(deps.store.db, LEASE, opts.owner, deps.clock.now(), leaseTtl(deps)))) {
    if (Date.now() >= deadline) return { outcome: "Busy", ...p, forwardedUntil: null, error: null };
    await new Promise((r) => setTimeout(r, 250));
  }
  try {
    return await pass(deps, opts.owner, force, p);
  } finally {
    await releaseLease(deps.store.db, LEASE, opts.owner).catch(() => undefined);
    await refreshMetrics(deps).catch(() => undefined);
  }
}

/** The background loop `serve` runs: a pass every `bridgeIntervalMs`; `stop` waits for a pass in progress. */
export function startBridgeLoop(deps: BridgeDeps, intervalMs = deps.config.bridgeIntervalMs): Loop {
  const owner = leaseOwner();
  return startLoop(deps.logger, "usage bridge pass failed", intervalMs, () => runBridge(deps, { owner }));
}
