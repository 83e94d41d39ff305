import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../../src/bridge/upstream.js";
import { runBridge, startBridgeLoop } from "../../src/bridge/worker.js";
import { ManualClock } from "../../src/clock.js";
import { isChargeableUsage } from "../../src/domain/bridge.js";
import { createLogger, openServices, type Services } from "../../src/services.js";
import { acquireLease } from "../../src/storage/lease.js";
import { Receiver } from "../bridge-helpers.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";
import { H, ingest, makeWorld, record, T0, usageAll, type World } from "../usage-helpers.js";

const iso = (t: number) => new Date(t).toISOString();
const MIN = 60_000;
const SECRET = "hmac-secret-of-the-receiver";
const DEF = guid(0xde1);

describe.each(DIALECTS)("registration rules and bridge flows on %s", (dialect) => {
  const clock = new ManualClock(T0 + 10 * MIN);
  let t: TestApp;
  let w: World;
  let receiver: Receiver;
  let receiverUrl: string;
  const call = async (method: string, url: string, body?: unknown) =>
    t.app.inject({
      method: method as "GET",
      url,
      headers: t.op,
      ...(body === undefined ? {} : { payload: body as object }),
    });
  const run = async () => (await call("POST", "/api/v1/bridge/run")).json();
  const status = async () => (await call("GET", "/api/v1/bridge/status")).json();

  beforeAll(async () => {
    t = await openTestApp(dialect, { clock });
    w = await makeWorld(t);
    receiver = new Receiver();
    receiverUrl = await receiver.listen();
  });
  afterAll(async () => {
    await receiver.close();
    await t.cleanup();
  });

  it("refuses registrations that break the rules, and never shows the credential", async () => {
    const post = (body: Record<string, unknown>) =>
      call("POST", "/api/v1/registrations", {
        name: "AzureStack-flows",
        defaultSubscriptionId: DEF,
        ...body,
      });
    const noUpstream = await post({ billingModel: "PayAsYouUse" });
    expect(noUpstream.statusCode).toBe(400);
    expect(noUpstream.json().error.details.map((d: { field: string }) => d.field)).toEqual([
      "upstreamUrl",
      "upstreamCredential",
    ]);
    const off = await post({
      billingModel: "PayAsYouUse",
      usageReportingEnabled: false,
      upstreamUrl: receiverUrl,
      upstreamCredential: SECRET,
    });
    expect(off.json().error.message).toMatch(
      /usageReportingEnabled: cannot be turned off with the PayAsYouUse/,
    );
    const plain = await post({
      billingModel: "Development",
      upstreamUrl: "http://hub.example.com",
      upstreamCredential: SECRET,
    });
    expect(plain.json().error.details[0]).toMatchObject({ field: "upstreamUrl" });
    expect((await post({ billingModel: "Free" })).statusCode).toBe(400);

    const created = await post({
      billingModel: "Development",
      upstreamType: "Https",
      upstreamUrl: receiverUrl,
      upstreamCredential: SECRET,
      forwardFrom: iso(T0),
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      name: "AzureStack-flows",
      subscriptionId: DEF,
      resourceGroup: "azurestack",
      billingModel: "Development",
      defaultSubscriptionId: DEF,
      usageReportingEnabled: true,
      upstreamType: "Https",
      upstreamUrl: receiverUrl,
      upstreamCredentialSet: true,
    });
    expect((await post({ billingModel: "Development", usageReportingEnabled: false })).statusCode).toBe(409);
    expect((await call("GET", "/api/v1/registrations")).json().items).toHaveLength(1);
    const noCredential = await call("PATCH", "/api/v1/registrations/AzureStack-flows", {
      upstreamCredential: null,
    });
    expect(noCredential.json().error.details[0].field).toBe("upstreamCredential");
    for (const url of [
      "/api/v1/registrations",
      "/api/v1/registrations/azurestack-FLOWS",
      "/api/v1/audit-log",
      "/api/v1/bridge/status",
    ]) {
      const r = await call("GET", url);
      expect(r.statusCode).toBe(200);
      expect(r.body).not.toContain(SECRET);
    }
  });

  it("forwards Development usage at zero charge in signed documents, re-sending a refused batch unchanged", async () => {
    await ingest(t, w.apiKey, [
      record({ id: "d1", sub: w.subA, quantity: "1.25", start: T0 }),
      record({ id: "d2", sub: w.subB, quantity: 2, start: T0, vm: "vm2" }),
    ]);
    clock.set(T0 + H + 11_000);
    receiver.failNext = 1;
    const refused = await run();
    expect(refused.error).toMatchObject({ category: "UpstreamUnavailable" });
    expect((await status()).lastError).toMatchObject({
      category: "UpstreamUnavailable",
      message: "the upstream answered 503: busy",
    });
    const ok = await run();
    expect(ok).toMatchObject({ outcome: "UpToDate", windows: 0, batches: 1, records: 2 });
    expect(receiver.attempts).toHaveLength(2);
    const recordsOf = (body: string) => body.slice(body.indexOf('"records":'));
    expect(recordsOf(receiver.attempts[1]!)).toBe(recordsOf(receiver.attempts[0]!));
    const [b] = receiver.received;
    expect(verifySignature(b!.body, b!.headers["x-tally-signature"] as string, SECRET)).toBe(true);
    expect(b!.headers["idempotency-key"]).toBe(b!.doc.idempotencyKey);
    expect(b!.doc).toMatchObject({ billingModel: "Development", subscriptionId: DEF, part: 0, parts: 1 });
    expect(
      b!.doc.records.map((r) => [r.additionalInfo["azureStack.SubscriptionId"], r.quantity]).sort(),
    ).toEqual(
      [
        [w.subA, "1.25"],
        [w.subB, "2"],
      ].sort(),
    );
    expect(b!.doc.records.every((r) => r.additionalInfo["azureStack.BillingModel"] === "Development")).toBe(
      true,
    );
    expect(b!.doc.records.some((r) => isChargeableUsage(r.additionalInfo))).toBe(false);
  });

  it("runs in the background, as serve starts it", async () => {
    await ingest(t, w.apiKey, [record({ id: "bg1", sub: w.subC, quantity: 3, start: T0 + H, vm: "vm3" })]);
    clock.set(T0 + 2 * H + 11_000);
    const before = receiver.received.length;
    const loop = startBridgeLoop(t.svc, 20);
    try {
      for (let i = 0; i < 250 && receiver.received.length === before; i++)
        await new Promise((r) => setTimeout(r, 20));
    } finally {
      await loop.stop();
    }
    expect(receiver.received.length).toBe(before + 1);
    expect(receiver.received.at(-1)!.doc.records.map((r) => r.quantity)).toEqual(["3"]);
    expect((await status()).forwardedUntil).toBe(iso(T0 + 2 * H));
  });

  it("with Capacity and reporting off forwards nothing but still meters; turned on again, starts at the current hour", async () => {
    const cap = await call("PATCH", "/api/v1/registrations/AzureStack-flows", {
      billingModel: "Capacity",
      usageReportingEnabled: false,
    });
    expect(cap.statusCode).toBe(200);
    clock.set(T0 + 2 * H + 20 * MIN);
    await ingest(t, w.apiKey, [record({ id: "cap1", sub: w.subA, quantity: 4, start: T0 + 2 * H })]);
    clock.set(T0 + 3 * H + 11_000);
    const before = receiver.received.length;
    expect((await run()).outcome).toBe("ReportingDisabled");
    expect(receiver.received.length).toBe(before);
    expect(await status()).toMatchObject({ state: "ReportingDisabled", lagSeconds: 0, pendingWindows: 0 });
    const local = await usageAll(t, { from: iso(T0 + 2 * H), to: iso(T0 + 3 * H) });
    expect(local.map((i) => i.quantity)).toEqual(["4"]);

    clock.set(T0 + 3 * H + 20 * MIN);
    const on = await call("PATCH", "/api/v1/registrations/AzureStack-flows", { usageReportingEnabled: true });
    expect(on.statusCode).toBe(200);
    const audit = (await call("GET", "/api/v1/audit-log?action=registrations/write")).json().items[0];
    expect(audit.details).toMatchObject({ op: "update", forwardFrom: iso(T0 + 3 * H) });
    await ingest(t, w.apiKey, [record({ id: "cap2", sub: w.subA, quantity: 5, start: T0 + 3 * H })]);
    clock.set(T0 + 4 * H + 11_000);
    expect(await run()).toMatchObject({ outcome: "UpToDate", batches: 1, records: 1 });
    expect(receiver.received.at(-1)!.doc.records.map((r) => r.quantity)).toEqual(["5"]);
    expect(receiver.records().some((r) => r.quantity === "4")).toBe(false);
  });

  it("lets one node at a time forward when nodes share the database", async () => {
    const second: Services = await openServices(t.config, {
      migrate: false,
      clock,
      logger: createLogger({ logLevel: "silent" }),
      ...(t.schema ? { schema: t.schema } : {}),
    });
    try {
      expect(await acquireLease(t.svc.store.db, "probe", "n1", clock.now(), 60_000)).toBe(true);
      expect(await acquireLease(second.store.db, "probe", "n2", clock.now(), 60_000)).toBe(false);
      expect(await acquireLease(t.svc.store.db, "probe", "n1", clock.now() + 1, 60_000)).toBe(true);
      // A holder that died: its lease lapses and another node takes over.
      expect(await acquireLease(second.store.db, "probe", "n2", clock.now() + 60_002, 60_000)).toBe(true);

      clock.set(T0 + 4 * H + 20 * MIN);
      await ingest(t, w.apiKey, [
        record({ id: "n1", sub: w.subA, quantity: 1, start: T0 + 4 * H }),
        record({ id: "n2", sub: w.subB, quantity: 1, start: T0 + 4 * H, vm: "vm2" }),
      ]);
      clock.set(T0 + 5 * H + 11_000);
      const before = receiver.received.length;
      const results = await Promise.all([
        runBridge(t.svc, { owner: "node-a" }),
        runBridge(second, { owner: "node-b" }),
        runBridge(t.svc, { owner: "node-c" }),
      ]);
      expect(results.every((r) => r.outcome === "UpToDate" || r.outcome === "Busy")).toBe(true);
      expect(results.reduce((n, r) => n + r.batches, 0)).toBe(1);
      expect(receiver.received.length).toBe(before + 1);
    } finally {
      await second.close();
    }
  });

  it("drops what was not delivered when the registration is deleted, and says so in the audit log", async () => {
    clock.set(T0 + 5 * H + 20 * MIN);
    await ingest(t, w.apiKey, [record({ id: "del1", sub: w.subA, quantity: 1, start: T0 + 5 * H })]);
    clock.set(T0 + 6 * H + 11_000);
    receiver.failNext = 5;
    expect((await run()).outcome).toBe("Failed");
    expect((await status()).queuedBatches).toBe(1);
    expect((await call("DELETE", "/api/v1/registrations/AzureStack-flows")).statusCode).toBe(204);
    const audit = (await call("GET", "/api/v1/audit-log?action=registrations/delete")).json().items[0];
    expect(audit.details).toMatchObject({
      droppedBatches: 1,
      droppedRecords: 1,
      forwardedUntil: iso(T0 + 5 * H),
    });
    expect((await status()).state).toBe("NotRegistered");
    expect((await run()).outcome).toBe("NotRegistered");
    expect(await t.svc.store.db.selectFrom("bridge_batches").selectAll().execute()).toEqual([]);
    expect((await call("DELETE", "/api/v1/registrations/AzureStack-flows")).statusCode).toBe(404);
    receiver.failNext = 0;
  });
});

describe.each(DIALECTS)("forwarded windows and history imports on %s", (dialect) => {
  let t: TestApp;
  afterAll(async () => t.cleanup());

  it("protects forwarded windows from history imports", async () => {
    const clock = new ManualClock(T0 + 10 * H + 10 * MIN);
    t = await openTestApp(dialect, { clock });
    const w = await makeWorld(t);
    const receiver = new Receiver();
    const url = await receiver.listen();
    try {
      const reg = await t.app.inject({
        method: "POST",
        url: "/api/v1/registrations",
        headers: t.op,
        payload: {
          name: "r",
          billingModel: "Development",
          defaultSubscriptionId: DEF,
          upstreamType: "Https",
          upstreamUrl: url,
          upstreamCredential: SECRET,
          forwardFrom: iso(T0 + 5 * H),
        },
      });
      expect(reg.statusCode).toBe(201);
      const hist = (id: string, reported: number) => ({
        ...record({ id, sub: w.subA, quantity: 1, start: reported - MIN - H }),
        reportedTime: iso(reported),
      });
      const imp = (body: unknown) =>
        t.app.inject({
          method: "POST",
          url: "/api/v1/usage-imports",
          headers: t.op,
          payload: body as object,
        });
      // Before the bridge ran, history may still fill those hours…
      expect((await imp([hist("h1", T0 + 6 * H + MIN)])).statusCode).toBe(201);
      const r = await t.app.inject({ method: "POST", url: "/api/v1/bridge/run", headers: t.op });
      expect(r.json()).toMatchObject({ outcome: "UpToDate", windows: 1, records: 1 });
      // …afterwards not: the bridge has answered them.
      const late = await imp([hist("h2", T0 + 7 * H + MIN)]);
      expect(late.statusCode).toBe(400);
      expect(late.json().error.message).toMatch(/already answered/);
      expect((await imp([hist("h3", T0 + 4 * H + MIN)])).statusCode).toBe(201); // before the registration's start
    } finally {
      await receiver.close();
    }
  });
});

describe.each(DIALECTS)("records from another cloud's bridge at a hub on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  beforeAll(async () => {
    t = await openTestApp(dialect, { clock: new ManualClock(T0 + 2 * H) });
    w = await makeWorld(t);
  });
  afterAll(async () => t.cleanup());

  it("accepts the cloud's subscription in resourceUri only from a bridge source that names it", async () => {
    const bridge = (
      await t.app.inject({
        method: "POST",
        url: "/api/v1/sources",
        headers: t.op,
        payload: { name: "cloud-b", kind: "bridge" },
      })
    ).json();
    expect(bridge.kind).toBe("bridge");
    const local = guid(0x10ca1);
    const rec = (id: string, info?: Record<string, string>) => ({
      ...record({ id, sub: w.subA, quantity: 1, start: T0 }),
      resourceUri: `/subscriptions/${local}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
      ...(info ? { additionalInfo: info } : {}),
    });
    const ok = await ingest(t, bridge.apiKey, [
      rec("x1", { "azureStack.SubscriptionId": local.toUpperCase() }),
    ]);
    expect(ok.json()).toEqual({ inserted: 1, duplicates: 0 });
    const missing = await ingest(t, bridge.apiKey, [rec("x2")]);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.details[0].reason).toMatch(/from a bridge/);
    const other = await ingest(t, bridge.apiKey, [rec("x3", { "azureStack.SubscriptionId": guid(0x10ca2) })]);
    expect(other.statusCode).toBe(400);
    // A resource provider may not do this.
    const rp = await ingest(t, w.apiKey, [rec("x4", { "azureStack.SubscriptionId": local })]);
    expect(rp.statusCode).toBe(400);
    expect(rp.json().error.details[0].reason).toBe("must start with /subscriptions/{subscriptionId}/");
    // The usual form stays valid from a bridge source.
    expect(
      (await ingest(t, bridge.apiKey, [record({ id: "x5", sub: w.subA, quantity: 1, start: T0 })]))
        .statusCode,
    ).toBe(200);
  });
});
