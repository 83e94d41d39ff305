import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findRegistration, tenantMap } from "../src/bridge/repository.js";
import { forwardedRecords, toBatches } from "../src/bridge/window.js";
import { runBridge } from "../src/bridge/worker.js";
import { ManualClock } from "../src/clock.js";
import { loadConfig } from "../src/config.js";
import { buildApp } from "../src/http/app.js";
import type { App } from "../src/http/types.js";
import { createLogger, openServices, type Services } from "../src/services.js";

export interface BridgeFigures {
  aggregates: number;
  batches: number;
  /** The whole bridge: read the window, build and store its batches, deliver them to a hub over HTTP. */
  bridgeAggregatesPerSec: number;
  /** The hub alone: posting the same batch bodies straight to its ingest API, one at a time. */
  hubIngestRecordsPerSec: number;
  ratio: number;
}

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 23, 0);
const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

async function node(clock: ManualClock): Promise<{ svc: Services; app: App; token: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "tally-bench-bridge-"));
  const svc = await openServices(loadConfig({ TALLY_DATA_DIR: dir, TALLY_LOG_LEVEL: "silent" }), {
    migrate: true,
    clock,
    logger: createLogger({ logLevel: "silent" }),
  });
  const app = await buildApp(svc);
  await app.ready();
  const token = await svc.tokens.sign({ subject: svc.system.operatorPrincipalId, ttlMs: 86_400_000 });
  return { svc, app, token, dir };
}

/**
 * One reported hour of `aggregates` distinct aggregates (subscriptions × instances) at a cloud,
 * forwarded to a hub on loopback; both on SQLite. The baseline is the hub's own ingest of the
 * same bodies, measured in the same run.
 */
export async function benchBridge(opts: {
  aggregates: number;
  log: (s: string) => void;
}): Promise<BridgeFigures> {
  const clock = new ManualClock(T0 + 10 * 60_000);
  const cloud = await node(clock);
  const hub = await node(clock);
  const call = async (n: { app: App; token: string }, method: string, url: string, body?: unknown) => {
    const r = await n.app.inject({
      method: method as "POST",
      url,
      headers: { authorization: `Bearer ${n.token}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.json();
  };
  try {
    await hub.app.listen({ port: 0, host: "127.0.0.1" });
    const hubUrl = `http://127.0.0.1:${(hub.app.server.address() as AddressInfo).port}`;
    const dir = guid(0xd00);
    const upstream = guid(0xde1);
    await call(hub, "POST", "/api/v1/directories", { id: dir, displayName: "partner" });
    await call(hub, "POST", "/api/v1/subscriptions", {
      id: upstream,
      displayName: "default",
      directoryId: dir,
    });
    const hubKey = (await call(hub, "POST", "/api/v1/sources", { name: "cloud", kind: "bridge" })).apiKey;

    const subs = 100;
    await call(cloud, "POST", "/api/v1/directories", { id: dir, displayName: "tenant" });
    for (let s = 0; s < subs; s++)
      await call(cloud, "POST", "/api/v1/subscriptions", {
        id: guid(s + 1),
        displayName: `s${s}`,
        directoryId: dir,
      });
    const key = (await call(cloud, "POST", "/api/v1/sources", { name: "rp" })).apiKey;
    await call(cloud, "POST", "/api/v1/registrations", {
      name: "bench",
      billingModel: "PayAsYouUse",
      defaultSubscriptionId: upstream,
      upstreamUrl: hubUrl,
      upstreamCredential: hubKey,
    });
    const records = Array.from({ length: opts.aggregates }, (_, i) => {
      const sub = guid((i % subs) + 1);
      return {
        id: `r${i}`,
        subscriptionId: sub,
        meterId: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
        quantity: "1.5",
        usageStartTime: new Date(T0).toISOString(),
        usageEndTime: new Date(T0 + H).toISOString(),
        resourceUri: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm${i}`,
        location: "local",
      };
    });
    for (let i = 0; i < records.length; i += 1000) {
      const r = await cloud.app.inject({
        method: "POST",
        url: "/api/v1/usage-records",
        headers: { "x-api-key": key, "content-type": "application/json" },
        payload: JSON.stringify(records.slice(i, i + 1000)),
      });
      if (r.statusCode !== 200) throw new Error(r.body);
    }
    clock.set(T0 + H + 11_000);
    opts.log(`  ${opts.aggregates.toLocaleString("en")} aggregates in one reported hour; forwarding…`);
    const started = performance.now();
    const run = await runBridge(cloud.svc, { owner: "bench", force: true });
    const bridgeSec = (performance.now() - started) / 1000;
    if (run.outcome !== "UpToDate" || run.records !== opts.aggregates) throw new Error(JSON.stringify(run));

    // Baseline: the hub ingesting the same bodies (rebuilt: identical) under a second source.
    const reg = (await findRegistration(cloud.svc.store.db))!;
    const fwd = await forwardedRecords(
      cloud.svc,
      reg,
      await tenantMap(cloud.svc.store.db, reg.object_id),
      T0,
    );
    const bodies = toBatches(reg.cloud_id, T0, fwd, cloud.svc.config.bridgeBatchRecords).map((b) => b.body);
    const key2 = (await call(hub, "POST", "/api/v1/sources", { name: "baseline", kind: "bridge" })).apiKey;
    const t1 = performance.now();
    for (const body of bodies) {
      const r = await fetch(`${hubUrl}/api/v1/usage-records`, {
        method: "POST",
        headers: { "x-api-key": key2, "content-type": "application/json" },
        body,
      });
      if (r.status !== 200) throw new Error(await r.text());
    }
    const hubSec = (performance.now() - t1) / 1000;
    const bridgeRate = Math.round(opts.aggregates / bridgeSec);
    const hubRate = Math.round(opts.aggregates / hubSec);
    return {
      aggregates: opts.aggregates,
      batches: run.batches,
      bridgeAggregatesPerSec: bridgeRate,
      hubIngestRecordsPerSec: hubRate,
      ratio: Math.round((bridgeRate / hubRate) * 100) / 100,
    };
  } finally {
    for (const n of [cloud, hub]) {
      await n.app.close();
      await n.svc.close();
      rmSync(n.dir, { recursive: true, force: true });
    }
  }
}
