import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRegistration, tenantMap } from "../../src/bridge/repository.js";
import { forwardedRecords, toBatches } from "../../src/bridge/window.js";
import { ManualClock } from "../../src/clock.js";
import { isChargeableUsage } from "../../src/domain/bridge.js";
import { DroppingProxy, RestartableServer, storedTotals } from "../bridge-helpers.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";
import { BLOB_CAPACITY, H, ingest, makeWorld, record, T0, VM_BASE, type World } from "../usage-helpers.js";

const iso = (t: number) => new Date(t).toISOString();
const MIN = 60_000;

/**
 * Two tally servers on loopback: a cloud that forwards its usage and a hub that receives it (and,
 * through its own ingest API, counts every record once). They share one manual clock.
 */
describe.each(DIALECTS)("the usage bridge between a cloud and a hub on %s", (dialect) => {
  const clock = new ManualClock(T0 + H + 10 * MIN);
  let cloud: TestApp;
  let hubApp: TestApp;
  let hub: RestartableServer;
  let proxy: DroppingProxy;
  let proxyUrl: string;
  let w: World;
  let hubKey: string;
  const DEF = guid(0xde1);
  const CSP_A = guid(0xc5a);
  const CSP_B = guid(0xc5b);
  const HUB_DIR = guid(0x4b0);

  const as =
    (t: { app: TestApp["app"] }, headers: Record<string, string>) =>
    async (method: string, url: string, body?: unknown) =>
      t.app.inject({
        method: method as "GET",
        url,
        headers,
        ...(body === undefined ? {} : { payload: body as object }),
      });
  const onCloud = (method: string, url: string, body?: unknown) => as(cloud, cloud.op)(method, url, body);
  const onHub = (method: string, url: string, body?: unknown) => as(hub, hubApp.op)(method, url, body);
  const run = async () => {
    const r = await onCloud("POST", "/api/v1/bridge/run");
    expect(r.statusCode).toBe(200);
    return r.json();
  };
  const status = async () => (await onCloud("GET", "/api/v1/bridge/status")).json();
  const totals = () => storedTotals(hub.svc);

  beforeAll(async () => {
    cloud = await openTestApp(dialect, { clock });
    hubApp = await openTestApp(dialect, { clock });
    hub = new RestartableServer(hubApp);
    await hub.listen();
    proxy = new DroppingProxy(() => hub.url);
    proxyUrl = await proxy.listen();

    // The hub: the upstream subscriptions exist there, and the cloud's bridge is a source of kind bridge.
    const ok = async (p: Promise<{ statusCode: number; body: string }>) => {
      const r = await p;
      if (r.statusCode >= 300) throw new Error(`${r.statusCode} ${r.body}`);
      return JSON.parse(r.body);
    };
    await ok(onHub("POST", "/api/v1/directories", { id: HUB_DIR, displayName: "CSP partner" }));
    for (const [id, name] of [
      [DEF, "Default (registration) subscription"],
      [CSP_A, "Contoso CSP"],
      [CSP_B, "Fabrikam CSP"],
    ])
      await ok(onHub("POST", "/api/v1/subscriptions", { id, displayName: name, directoryId: HUB_DIR }));
    hubKey = (await ok(onHub("POST", "/api/v1/sources", { name: "cloud-east", kind: "bridge" }))).apiKey;

    // The cloud: two tenants; Contoso (dirA) has a customer subscription, Fabrikam (dirB) does not.
    w = await makeWorld(cloud);
    await ok(
      onCloud("POST", "/api/v1/registrations", {
        name: "AzureStack-east",
        billingModel: "PayAsYouUse",
        defaultSubscriptionId: DEF,
        upstreamUrl: hub.url,
        upstreamCredential: hubKey,
      }),
    );
    await ok(
      onCloud("PUT", `/api/v1/registrations/AzureStack-east/customer-subscriptions/${CSP_A}`, {
        tenantId: w.dirA,
      }),
    );
  });
  afterAll(async () => {
    await proxy.close();
    await cloud.cleanup();
    await hub.cleanup();
  });

  it("forwards a closed window to the tenant's customer subscription, or else the default one", async () => {
    clock.set(T0 + H + 20 * MIN);
    const r = await ingest(cloud, w.apiKey, [
      record({ id: "a1", sub: w.subA, quantity: "2.5", start: T0 }),
      record({ id: "a2", sub: w.subA, quantity: "0.5", start: T0 + H, end: T0 + H + 10 * MIN }),
      record({ id: "b1", sub: w.subB, quantity: 1, start: T0, vm: "vm2" }),
      record({ id: "b2", sub: w.subB, meter: BLOB_CAPACITY, quantity: "0.3333333333", start: T0, vm: "vm2" }),
      record({ id: "c1", sub: w.subC, quantity: 7, start: T0, vm: "vm3" }),
    ]);
    expect(r.json()).toEqual({ inserted: 5, duplicates: 0 });

    // The reported hour 01:00 is not closed yet: nothing to forward.
    expect((await run()).outcome).toBe("UpToDate");
    expect(await totals()).toEqual({});

    clock.set(T0 + 2 * H + 11_000);
    const done = await run();
    expect(done).toMatchObject({ outcome: "UpToDate", windows: 1, batches: 2, records: 5, error: null });
    expect(done.forwardedUntil).toBe(iso(T0 + 2 * H));
    expect(await totals()).toEqual({
      [CSP_A]: { records: 2, quantity: "3" },
      [DEF]: { records: 3, quantity: "8.3333333333" },
    });

    // What the hub stored: the cloud's resource URI and subscription, the Azure Stack keys.
    const stored = await hub.svc.store.db
      .selectFrom("usage_records")
      .select(["record_id", "resource_uri", "additional_info", "location", "usage_start", "usage_end"])
      .orderBy("record_id")
      .execute();
    const a = stored.find((s) => s.resource_uri.includes(w.subA) && Number(s.usage_start) === T0)!;
    expect(a.resource_uri).toBe(
      `/subscriptions/${w.subA}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
    );
    expect(a.location).toBe("local");
    expect(Number(a.usage_end) - Number(a.usage_start)).toBe(H);
    const info = JSON.parse(a.additional_info!);
    expect(info).toMatchObject({
      "azureStack.MeterId": VM_BASE,
      "azureStack.SubscriptionId": w.subA,
      "azureStack.Location": "local",
      "azureStack.EventDateTime": "11/23/2026 00:00:00",
      "azureStack.BillingModel": "PayAsYouUse",
      "tally.ReportedHour": iso(T0 + H),
    });
    expect(isChargeableUsage(info)).toBe(true);
    expect(stored.every((s) => /^tb-2026112301-[A-Za-z0-9_-]{43}$/.test(s.record_id))).toBe(true);

    const s = await status();
    expect(s).toMatchObject({
      state: "UpToDate",
      registrationName: "AzureStack-east",
      forwardedUntil: iso(T0 + 2 * H),
      lastForwardedWindow: { start: iso(T0 + H), end: iso(T0 + 2 * H) },
      windowInFlight: null,
      lagSeconds: 0,
      pendingWindows: 0,
      queuedBatches: 0,
      failures: 0,
      lastError: null,
    });
  });

  it("keeps what it could not deliver while the hub is down, and delivers it once after the hub restarts", async () => {
    await hub.stop();
    clock.set(T0 + 2 * H + 30 * MIN);
    await ingest(cloud, w.apiKey, [
      record({ id: "a3", sub: w.subA, quantity: 1, start: T0 + 2 * H }),
      record({ id: "b3", sub: w.subB, quantity: 2, start: T0 + H, vm: "vm2" }), // late usage
    ]);
    clock.set(T0 + 3 * H + 11_000);
    const failed = await run();
    expect(failed.outcome).toBe("Failed");
    expect(failed.error.category).toBe("NetworkError");
    let s = await status();
    expect(s).toMatchObject({
      state: "Retrying",
      forwardedUntil: iso(T0 + 2 * H),
      windowInFlight: { start: iso(T0 + 2 * H), end: iso(T0 + 3 * H) },
      lagSeconds: 3600,
      pendingWindows: 1,
      queuedBatches: 2,
      queuedRecords: 2,
      failures: 1,
      lastError: { category: "NetworkError" },
    });
    expect(Date.parse(s.nextAttemptAt)).toBeGreaterThan(clock.now());
    const metrics = (await onCloud("GET", "/metrics")).body;
    expect(metrics).toMatch(/tally_bridge_lag_seconds 3600/);
    expect(metrics).toMatch(/tally_bridge_queued_batches 2/);
    expect(metrics).toMatch(/tally_bridge_deliveries_total\{outcome="failed",category="NetworkError"\} 1/);

    // Still down an hour later: a second failure, the next window waits behind the first.
    clock.set(T0 + 3 * H + 30 * MIN);
    await ingest(cloud, w.apiKey, [
      record({ id: "c3", sub: w.subC, quantity: "0.1", start: T0 + 3 * H, vm: "vm3" }),
    ]);
    clock.set(T0 + 4 * H + 11_000);
    expect((await run()).error.category).toBe("NetworkError");
    s = await status();
    expect(s).toMatchObject({ failures: 2, pendingWindows: 2, lagSeconds: 7200, queuedBatches: 2 });

    await hub.start(clock);
    const again = await run();
    expect(again).toMatchObject({ outcome: "UpToDate", windows: 1, batches: 3, records: 3 });
    expect(await totals()).toEqual({
      [CSP_A]: { records: 3, quantity: "4" },
      [DEF]: { records: 5, quantity: "10.4333333333" },
    });
    s = await status();
    expect(s).toMatchObject({
      state: "UpToDate",
      forwardedUntil: iso(T0 + 4 * H),
      failures: 0,
      lagSeconds: 0,
    });
    expect(s.lastError.category).toBe("NetworkError"); // kept for the record, with its time
  });

  it("counts a batch delivered twice once: the answer was lost, the batch re-sent", async () => {
    const patched = await onCloud("PATCH", "/api/v1/registrations/AzureStack-east", {
      upstreamUrl: proxyUrl,
    });
    expect(patched.statusCode).toBe(200);
    clock.set(T0 + 4 * H + 20 * MIN);
    await ingest(cloud, w.apiKey, [record({ id: "a4", sub: w.subA, quantity: "0.25", start: T0 + 4 * H })]);
    clock.set(T0 + 5 * H + 11_000);
    proxy.mode = "drop-response";
    const lost = await run();
    expect(lost.outcome).toBe("Failed");
    expect(lost.error.category).toBe("NetworkError");
    expect(proxy.dropped).toBe(1);
    // The hub has it already…
    expect((await totals())[CSP_A]).toEqual({ records: 4, quantity: "4.25" });
    // …and counts the re-sent batch as a duplicate.
    const resent = await run();
    expect(resent).toMatchObject({ outcome: "UpToDate", batches: 1, records: 1 });
    expect((await totals())[CSP_A]).toEqual({ records: 4, quantity: "4.25" });
    expect((await onCloud("GET", "/metrics")).body).toMatch(
      /tally_bridge_records_total\{outcome="duplicate"\} 1/,
    );

    // A window rebuilt from the closed aggregates is the same records, byte for byte: a replay of
    // every window forwarded so far adds nothing at the hub.
    const reg = (await findRegistration(cloud.svc.store.db))!;
    const tenants = await tenantMap(cloud.svc.store.db, reg.object_id);
    for (const hour of [T0 + H, T0 + 2 * H, T0 + 3 * H, T0 + 4 * H]) {
      const records = await forwardedRecords(cloud.svc, reg, tenants, hour);
      for (const b of toBatches(reg.cloud_id, hour, records, 1000)) {
        const r = await hub.app.inject({
          method: "POST",
          url: "/api/v1/usage-records",
          headers: { "x-api-key": hubKey, "content-type": "application/json" },
          payload: b.body,
        });
        expect(r.json()).toEqual({ inserted: 0, duplicates: b.records });
      }
    }
    expect(await totals()).toEqual({
      [CSP_A]: { records: 4, quantity: "4.25" },
      [DEF]: { records: 5, quantity: "10.4333333333" },
    });
  });

  it("applies a mapping change to the windows forwarded after it", async () => {
    const put = await onCloud(
      "PUT",
      `/api/v1/registrations/AzureStack-east/customer-subscriptions/${CSP_B}`,
      {
        tenantId: w.dirB,
      },
    );
    expect(put.statusCode).toBe(201);
    clock.set(T0 + 5 * H + 20 * MIN);
    await ingest(cloud, w.apiKey, [
      record({ id: "b5", sub: w.subB, quantity: 5, start: T0 + 5 * H, vm: "vm2" }),
      record({ id: "c5", sub: w.subC, quantity: 6, start: T0 + 4 * H, vm: "vm3" }),
    ]);
    clock.set(T0 + 6 * H + 11_000);
    expect(await run()).toMatchObject({ outcome: "UpToDate", windows: 1, batches: 1, records: 2 });
    expect(await totals()).toEqual({
      [CSP_A]: { records: 4, quantity: "4.25" },
      [DEF]: { records: 5, quantity: "10.4333333333" },
      [CSP_B]: { records: 2, quantity: "11" },
    });
  });

  it("answers the hub's usage API with the forwarded usage, per upstream subscription", async () => {
    clock.set(T0 + 8 * H);
    const r = await onHub(
      "GET",
      `/api/v1/usage?from=${iso(T0)}&to=${iso(T0 + 24 * H)}&timeBasis=usage&granularity=daily&groupBy=subscription`,
    );
    expect(r.statusCode).toBe(200);
    const items = r.json().items;
    const bySub = Object.fromEntries(
      items.map((i: { subscriptionId: string; quantity: string }) => [i.subscriptionId, i.quantity]),
    );
    expect(bySub).toEqual({ [CSP_A]: "4.25", [DEF]: "10.4333333333", [CSP_B]: "11" });
  });

  it("reports a refused credential as LoginError and a subscription unknown to the hub as UpstreamRejected", async () => {
    await onCloud("PATCH", "/api/v1/registrations/AzureStack-east", {
      upstreamUrl: hub.url,
      upstreamCredential: "tsk_wrong",
    });
    clock.set(T0 + 8 * H + 20 * MIN);
    await ingest(cloud, w.apiKey, [record({ id: "a8", sub: w.subA, quantity: 1, start: T0 + 8 * H })]);
    clock.set(T0 + 9 * H + 11_000);
    const denied = await run();
    expect(denied.error).toMatchObject({ category: "LoginError" });
    expect(denied.error.message).toMatch(/401/);
    await onCloud("PATCH", "/api/v1/registrations/AzureStack-east", { upstreamCredential: hubKey });
    expect(await run()).toMatchObject({ outcome: "UpToDate", records: 1 });

    // Contoso moves to a CSP subscription the hub's operator has not created yet.
    const CSP_X = guid(0xc5f);
    await onCloud("PUT", `/api/v1/registrations/AzureStack-east/customer-subscriptions/${CSP_X}`, {
      tenantId: w.dirA,
    });
    clock.set(T0 + 9 * H + 20 * MIN);
    await ingest(cloud, w.apiKey, [record({ id: "a9", sub: w.subA, quantity: 2, start: T0 + 9 * H })]);
    clock.set(T0 + 10 * H + 11_000);
    const rejected = await run();
    expect(rejected.error.category).toBe("UpstreamRejected");
    expect(rejected.error.message).toContain(`subscription '${CSP_X}' does not exist`);
    expect((await status()).state).toBe("Retrying");
    await onHub("POST", "/api/v1/subscriptions", {
      id: CSP_X,
      displayName: "Contoso CSP (new)",
      directoryId: HUB_DIR,
    });
    expect(await run()).toMatchObject({ outcome: "UpToDate", records: 1 });
    expect((await totals())[CSP_X]).toEqual({ records: 1, quantity: "2" });
    expect((await totals())[CSP_A]).toEqual({ records: 5, quantity: "5.25" });

    // Or the cloud's operator takes the mapping back: the frozen window keeps being refused until
    // it is re-charged with the mapping in force now.
    const CSP_Y = guid(0xc5e);
    await onCloud("PUT", `/api/v1/registrations/AzureStack-east/customer-subscriptions/${CSP_Y}`, {
      tenantId: w.dirA,
    });
    clock.set(T0 + 10 * H + 20 * MIN);
    await ingest(cloud, w.apiKey, [record({ id: "a10", sub: w.subA, quantity: 3, start: T0 + 10 * H })]);
    clock.set(T0 + 11 * H + 11_000);
    expect((await run()).error.category).toBe("UpstreamRejected");
    await onCloud("DELETE", `/api/v1/registrations/AzureStack-east/customer-subscriptions/${CSP_Y}`);
    expect((await run()).error.category).toBe("UpstreamRejected");
    const remap = await onCloud("POST", "/api/v1/bridge/remap");
    expect(remap.json()).toEqual({ windowStart: iso(T0 + 10 * H), batches: 1, records: 1, moved: 1 });
    expect(await run()).toMatchObject({ outcome: "UpToDate", batches: 1, records: 1 });
    expect((await totals())[DEF]).toEqual({ records: 6, quantity: "13.4333333333" });
    expect((await onCloud("POST", "/api/v1/bridge/remap")).statusCode).toBe(409);
  });
});
