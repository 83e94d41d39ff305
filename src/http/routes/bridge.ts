import { z } from "zod";
import { appendAudit } from "../../audit/repository.js";
import { remapWindowInFlight } from "../../bridge/remap.js";
import { bridgeStatus, refreshMetrics } from "../../bridge/status.js";
import { runBridge } from "../../bridge/worker.js";
import { DELIVERY_ERRORS } from "../../domain/bridge.js";
import type { Services } from "../../services.js";
import { leaseOwner } from "../../storage/lease.js";
import { actorOf } from "../auth.js";
import { commonErrors, errorBody } from "../schemas.js";
import type { App } from "../types.js";

const window = z.object({ start: z.string(), end: z.string() }).nullable();
const lastError = z
  .object({ category: z.enum(DELIVERY_ERRORS), message: z.string(), at: z.string() })
  .nullable();

const status = z.object({
  state: z.enum(["NotRegistered", "ReportingDisabled", "UpToDate", "Forwarding", "Retrying"]),
  registrationName: z.string().nullable(),
  billingModel: z.string().nullable(),
  usageReportingEnabled: z.boolean().nullable(),
  upstreamType: z.string().nullable(),
  upstreamUrl: z.string().nullable(),
  forwardedUntil: z.string().nullable(),
  lastForwardedWindow: window,
  windowInFlight: window,
  closedUntil: z.string(),
  lagSeconds: z.number(),
  pendingWindows: z.number().int(),
  queuedBatches: z.number().int(),
  queuedRecords: z.number().int(),
  failures: z.number().int(),
  lastAttemptAt: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  lastError,
});

const runResult = z.object({
  outcome: z.enum(["UpToDate", "NotRegistered", "ReportingDisabled", "Waiting", "Failed", "Busy"]),
  windows: z.number().int(),
  batches: z.number().int(),
  records: z.number().int(),
  forwardedUntil: z.string().nullable(),
  error: z.object({ category: z.enum(DELIVERY_ERRORS), message: z.string() }).nullable(),
  status,
});

/** `/api/v1/bridge`: the usage bridge's status, and forwarding on demand. */
export function registerBridge(app: App, svc: Services): void {
  const owner = leaseOwner();
  svc.metrics.addCollector(() => refreshMetrics(svc));

  app.get(
    "/api/v1/bridge/status",
    {
      config: { action: "bridge/read" },
      schema: {
        tags: ["bridge"],
        description: `Where forwarding stands: every closed reported window before \`forwardedUntil\` has been delivered;
\`lagSeconds\` is how far that trails the closed reported time; \`lastError\` carries the category of the last failure
(NetworkError, RequestTimedOut, LoginError, CertificateValidationError, Unauthorized, UpstreamRejected, UpstreamUnavailable).`,
        response: { 200: status, ...commonErrors },
      },
    },
    async () => bridgeStatus(svc),
  );

  app.post(
    "/api/v1/bridge/run",
    {
      config: { action: "bridge/write" },
      schema: {
        tags: ["bridge"],
        description:
          "Forwards every closed window now, retrying at once a batch that is waiting for its backoff; answers when forwarding is up to date or a delivery failed.",
        response: { 200: runResult, ...commonErrors },
      },
    },
    async (req) => {
      const run = await runBridge(svc, { owner, force: true });
      const s = await bridgeStatus(svc);
      if (s.state !== "NotRegistered") {
        await appendAudit(svc.store.db, actorOf(req), svc.clock.now(), {
          action: "bridge/write",
          target: "/bridge",
          details: {
            op: "run",
            outcome: run.outcome,
            windows: run.windows,
            batches: run.batches,
            records: run.records,
          },
        });
      }
      return { ...run, status: s };
    },
  );

  app.post(
    "/api/v1/bridge/remap",
    {
      config: { action: "bridge/write" },
      schema: {
        tags: ["bridge"],
        description:
          "Re-charges the undelivered records of the window in flight with the customer subscriptions and default subscription in force now, for when the upstream keeps refusing where they were charged. Record ids stay; acknowledged batches are left alone.",
        response: {
          200: z.object({
            windowStart: z.string(),
            batches: z.number().int(),
            records: z.number().int(),
            moved: z.number().int(),
          }),
          409: errorBody,
          ...commonErrors,
        },
      },
    },
    async (req) => remapWindowInFlight(svc, actorOf(req)),
  );
}
