import { type DeliveryErrorCategory, WINDOW } from "../domain/bridge.js";
import { toIso } from "../domain/time.js";
import type { Services } from "../services.js";
import { readUsageClock } from "../usage/clock.js";
import { closedUntil } from "../usage/service.js";
import { findBridgeState, findRegistration } from "./repository.js";

type Deps = Pick<Services, "store" | "clock" | "catalog" | "logger" | "metrics" | "config">;

export type BridgeState = "NotRegistered" | "ReportingDisabled" | "UpToDate" | "Forwarding" | "Retrying";

export interface BridgeStatus {
  state: BridgeState;
  registrationName: string | null;
  billingModel: string | null;
  usageReportingEnabled: boolean | null;
  upstreamType: string | null;
  upstreamUrl: string | null;
  /** Every closed reported window before this has been delivered (or had nothing to deliver). */
  forwardedUntil: string | null;
  /** The last reported window whose usage the upstream acknowledged. */
  lastForwardedWindow: { start: string; end: string } | null;
  /** The window whose batches are built and being delivered. */
  windowInFlight: { start: string; end: string } | null;
  /** Reported time up to which usage is closed (final) on this cloud. */
  closedUntil: string;
  /** How far forwarding trails the closed reported time, in seconds (0 when up to date). */
  lagSeconds: number;
  /** Closed reported hours with usage not yet forwarded, the one in flight included. */
  pendingWindows: number;
  queuedBatches: number;
  queuedRecords: number;
  /** Failed attempts since the last success. */
  failures: number;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  nextAttemptAt: string | null;
  lastError: { category: DeliveryErrorCategory; message: string; at: string } | null;
}

const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : toIso(Number(t)));
const windowOf = (start: number) => ({ start: toIso(start), end: toIso(start + WINDOW) });

export async function bridgeStatus(deps: Deps): Promise<BridgeStatus> {
  const db = deps.store.db;
  const reg = await findRegistration(db);
  // Closes what can be closed first, so that the lag is measured against the true watermark.
  const closed = reg
    ? await closedUntil(deps, Number.MAX_SAFE_INTEGER)
    : (await readUsageClock(db)).closedUntil;
  const state = reg ? await findBridgeState(db, reg.object_id) : undefined;
  const base = {
    registrationName: reg?.name ?? null,
    billingModel: reg?.billing_model ?? null,
    usageReportingEnabled: reg ? reg.usage_reporting_enabled === 1 : null,
    upstreamType: reg?.upstream_type ?? null,
    upstreamUrl: reg?.upstream_url ?? null,
    closedUntil: toIso(closed),
  };
  if (!reg || !state) {
    return {
      ...base,
      state: "NotRegistered",
      forwardedUntil: null,
      lastForwardedWindow: null,
      windowInFlight: null,
      lagSeconds: 0,
      pendingWindows: 0,
      queuedBatches: 0,
      queuedRecords: 0,
      failures: 0,
      lastAttemptAt: null,
      lastSuccessAt: null,
      nextAttemptAt: null,
      lastError: null,
    };
  }
  const fu = Number(state.forwarded_until);
  const queued = await db
    .selectFrom("bridge_batches")
    .select((eb) => [eb.fn.countAll().as("n"), eb.fn.sum("records").as("r")])
    .where("registration_id", "=", reg.object_id)
    .where("delivered_at", "is", null)
    .executeTakeFirstOrThrow();
  const lastDelivered = await db
    .selectFrom("bridge_batches")
    .select((eb) => eb.fn.max("window_start").as("w"))
    .where("registration_id", "=", reg.object_id)
    .where("delivered_at", "is not", null)
    .where((eb) =>
      state.window_start === null ? eb.lit(true) : eb("window_start", "<", Number(state.window_start)),
    )
    .executeTakeFirst();
  const pending = await db
    .selectFrom("usage_reported_bounds")
    .select((eb) => eb.fn.countAll().as("n"))
    .where("reported_hour", ">=", fu)
    .where("reported_hour", "<", closed)
    .executeTakeFirstOrThrow();
  const failures = Number(state.failures);
  const queuedBatches = Number(queued.n);
  const enabled = reg.usage_reporting_enabled === 1;
  const stranded = state.window_start !== null && Number(state.window_start) < fu ? 1 : 0;
  // While reporting is off, closed hours are not owed upstream (turning it on skips them).
  const pendingWindows = enabled ? Number(pending.n) + stranded : state.window_start !== null ? 1 : 0;
  return {
    ...base,
    state: !enabled
      ? "ReportingDisabled"
      : failures > 0
        ? "Retrying"
        : queuedBatches > 0 || pendingWindows > 0
          ? "Forwarding"
          : "UpToDate",
    forwardedUntil: toIso(fu),
    lastForwardedWindow:
      lastDelivered?.w === null || lastDelivered?.w === undefined ? null : windowOf(Number(lastDelivered.w)),
    windowInFlight: state.window_start === null ? null : windowOf(Number(state.window_start)),
    lagSeconds: enabled ? Math.max(0, Math.round((closed - fu) / 1000)) : 0,
    pendingWindows,
    queuedBatches,
    queuedRecords: Number(queued.r ?? 0),
    failures,
    lastAttemptAt: iso(state.last_attempt_at),
    lastSuccessAt: iso(state.last_success_at),
    nextAttemptAt: iso(state.next_attempt_at),
    lastError:
      state.last_error_category === null
        ? null
        : {
            category: state.last_error_category as DeliveryErrorCategory,
            message: state.last_error_message ?? "",
            at: iso(state.last_error_at)!,
          },
  };
}

/** Sets the bridge gauges from the database, after a pass or when /metrics is read. */
export async function refreshMetrics(deps: Deps): Promise<BridgeStatus> {
  const s = await bridgeStatus(deps);
  deps.metrics.bridgeForwardedUntil.set(s.forwardedUntil === null ? 0 : Date.parse(s.forwardedUntil) / 1000);
  deps.metrics.bridgeLag.set(s.lagSeconds);
  deps.metrics.bridgeQueuedBatches.set(s.queuedBatches);
  deps.metrics.bridgeConsecutiveFailures.set(s.failures);
  return s;
}
