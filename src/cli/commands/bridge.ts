import type { Command } from "commander";
import type { BridgeStatus } from "../../bridge/status.js";
import type { RunResult } from "../../bridge/worker.js";
import { withClient } from "../context.js";
import { CliError } from "../errors.js";
import { printObject } from "../output.js";

function flatten(s: BridgeStatus): Record<string, unknown> {
  return {
    state: s.state,
    registration: s.registrationName,
    billingModel: s.billingModel,
    upstream: s.upstreamUrl === null ? null : `${s.upstreamType} ${s.upstreamUrl}`,
    forwardedUntil: s.forwardedUntil,
    lastForwardedWindow: s.lastForwardedWindow
      ? `${s.lastForwardedWindow.start} – ${s.lastForwardedWindow.end}`
      : null,
    closedUntil: s.closedUntil,
    lag: `${s.lagSeconds}s`,
    pendingWindows: s.pendingWindows,
    queuedBatches: s.queuedBatches,
    queuedRecords: s.queuedRecords,
    failures: s.failures,
    lastSuccessAt: s.lastSuccessAt,
    nextAttemptAt: s.nextAttemptAt,
    lastError: s.lastError ? `${s.lastError.category} at ${s.lastError.at}: ${s.lastError.message}` : null,
  };
}

/** `tally bridge status|run`: the usage bridge. */
export function bridgeCommand(program: Command): void {
  const bridge = program
    .command("bridge")
    .description("the usage bridge that forwards closed usage upstream");

  bridge
    .command("status")
    .description("last forwarded window, lag, queued batches and the last error")
    .action(async (_o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const s = await c.request<BridgeStatus>("GET", "/api/v1/bridge/status");
        printObject(g.json ? s : flatten(s), g);
      }),
    );

  bridge
    .command("run")
    .description("forward every closed window now (exits 1 if a delivery fails)")
    .action(async (_o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = await c.request<RunResult & { status: BridgeStatus }>("POST", "/api/v1/bridge/run");
        if (g.json) printObject(r, g);
        else
          printObject(
            {
              outcome: r.outcome,
              windows: r.windows,
              batches: r.batches,
              records: r.records,
              forwardedUntil: r.forwardedUntil,
              ...(r.error ? { error: `${r.error.category}: ${r.error.message}` } : {}),
            },
            g,
          );
        if (r.outcome === "Failed")
          throw new CliError(`forwarding stopped: ${r.error?.category}: ${r.error?.message}`);
        if (r.outcome === "Busy")
          throw new CliError("another node is forwarding right now; try again shortly.");
      }),
    );

  bridge
    .command("remap")
    .description(
      "re-charge the undelivered records of the window in flight with the current customer subscriptions (when the upstream refuses where they were charged)",
    )
    .action(async (_o: unknown, cmd: Command) =>
      withClient(cmd, async (c, g) => printObject(await c.request("POST", "/api/v1/bridge/remap"), g)),
    );
}
