import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readUsageClock } from "../../src/usage/clock.js";
import {
  API,
  type AzureItem,
  azureGet,
  azureUrl,
  LEGACY_OPERATOR,
  OPERATOR,
  parsePage,
  resourceOf,
  sdkQuery,
  sum,
  TENANT,
  walk,
} from "../azure-helpers.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";
import {
  BLOB_CAPACITY,
  H,
  ingest,
  makeWorld,
  record,
  STATIC_IP,
  setClock,
  T0,
  usageAll,
  VM_BASE,
  type World,
} from "../usage-helpers.js";

const D = 24 * H;
const iso = (t: number) => new Date(t).toISOString();

describe.each(DIALECTS)("Azure usage APIs on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let resellerSub: string;
  const bearer = async (subject: string) => ({
    authorization: `Bearer ${await t.svc.tokens.sign({ subject, ttlMs: 3_600_000 })}`,
  });
  const op = async (method: string, url: string, body?: unknown) => {
    const r = await t.app.inject({
      method: method as "GET",
      url,
      headers: t.op,
      ...(body === undefined ? {} : { payload: body as object }),
    });
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.statusCode === 204 ? undefined : r.json();
  };

  // Day 1: a small, hand-checked day. Reported 01:10 (usage 00:00) and 05:30 (usage 03:00 and late
  // usage for 00:00).
  const day1 = T0 + D;

  beforeAll(async () => {
    t = await openTestApp(dialect);
    w = await makeWorld(t);
    resellerSub = (await op("GET", "/api/v1/providers/reseller")).subscriptionId;
    setClock(t, day1 + H + 10 * 60_000);
    const first = await ingest(t, w.apiKey, [
      record({ id: "a-1", sub: w.subA, quantity: "0.1", start: day1, tags: { env: "prod" } }),
      record({ id: "a-2", sub: w.subA, quantity: "123456789012345.0000000001", start: day1, vm: "vm2" }),
      record({ id: "b-1", sub: w.subB, quantity: 3, start: day1 }),
      record({ id: "c-1", sub: w.subC, quantity: 5, start: day1 }),
      record({ id: "r-1", sub: resellerSub, quantity: 7, start: day1, meter: STATIC_IP }),
    ]);
    expect(first.statusCode).toBe(200);
    setClock(t, day1 + 5 * H + 30 * 60_000);
    const second = await ingest(t, w.apiKey, [
      ...Array.from({ length: 9 }, (_, k) =>
        record({ id: `a-late-${k}`, sub: w.subA, quantity: "0.1", start: day1, tags: { env: "prod" } }),
      ),
      record({
        id: "a-3",
        sub: w.subA,
        quantity: "2.5",
        start: day1 + 3 * H,
        meter: BLOB_CAPACITY,
        location: "east",
        additionalInfo: { ImageType: "Windows", VCPUs: 4, ratio: 0.125 },
      }),
    ]);
    expect(second.statusCode).toBe(200);
    setClock(t, day1 + D + H); // day 1 closed
  });
  afterAll(async () => t.cleanup());

  const day1Query = (extra: Record<string, string> = {}) => sdkQuery(day1, day1 + D, extra);

  it("answers the tenant API with exactly the documented JSON text", async () => {
    const r = await azureGet(t, azureUrl(w.subA, TENANT, day1Query()));
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    const vm1 = `/subscriptions/${w.subA}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`;
    const vm2 = `/subscriptions/${w.subA}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm2`;
    const page = parsePage(r.body);
    expect(page.nextLink).toBeUndefined();
    // Ten records of 0.1 are exactly 1; the 15-digit quantity keeps its last digit on the wire.
    expect(page.value.map((i) => [i.properties.meterId, resourceOf(i), i.properties.quantity])).toEqual(
      expect.arrayContaining([
        [VM_BASE, "vm1", "1"],
        [VM_BASE, "vm2", "123456789012345.0000000001"],
        [BLOB_CAPACITY, "vm1", "2.5"],
      ]),
    );
    expect(page.value).toHaveLength(3);
    const one = page.value.find((i) => resourceOf(i) === "vm1" && i.properties.meterId === VM_BASE)!;
    const tag = one.name.slice(-16);
    expect(tag).toMatch(/^[0-9a-f]{16}$/);
    const name = `${w.subA}-${VM_BASE}-Daily_${iso(day1).slice(0, 10).replaceAll("-", "")}_0000_${tag}`;
    const text =
      `{"id":"/subscriptions/${w.subA}/providers/Microsoft.Commerce/UsageAggregate/${name}","name":"${name}",` +
      `"type":"Microsoft.Commerce/UsageAggregate","properties":{"subscriptionId":"${w.subA}",` +
      `"usageStartTime":"2026-11-24T00:00:00+00:00","usageEndTime":"2026-11-25T00:00:00+00:00",` +
      `"instanceData":${JSON.stringify(
        `{"Microsoft.Resources":{"resourceUri":"${vm1}","location":"local","tags":{"env":"prod"},"additionalInfo":null}}`,
      )},"quantity":1,"meterId":"${VM_BASE}"}}`;
    expect(r.body).toContain(text);
    expect(r.body.startsWith('{"value":[{"id":')).toBe(true);
    expect(r.body).toContain(`"quantity":123456789012345.0000000001,`);
    // additionalInfo is embedded as stored, in the documented key order with location and null tags.
    expect(r.body).toContain(
      JSON.stringify(
        `{"Microsoft.Resources":{"resourceUri":"${vm1}","location":"east","tags":null,"additionalInfo":{"ImageType":"Windows","VCPUs":4,"ratio":0.125}}}`,
      ),
    );
    expect(r.body).toContain(`"resourceUri\\":\\"${vm2}\\"`);
    // Ids are unique per item and keep the documented prefix.
    expect(new Set(page.value.map((i) => i.id)).size).toBe(3);
    for (const i of page.value) {
      expect(i.id).toBe(`/subscriptions/${w.subA}/providers/Microsoft.Commerce/UsageAggregate/${i.name}`);
      expect(i.name.startsWith(`${w.subA}-${i.properties.meterId}-`)).toBe(true);
      expect(i.type).toBe("Microsoft.Commerce/UsageAggregate");
    }
  });

  it("groups by usage hour with Hourly and finds late usage in the window it was reported in", async () => {
    const hourly = (from: number, to: number) =>
      azureGet(t, azureUrl(w.subA, TENANT, sdkQuery(from, to, { aggregationGranularity: "hourly" })));
    const early = parsePage((await hourly(day1 + H, day1 + 2 * H)).body).value;
    expect(
      early.map((i) => [resourceOf(i), i.properties.usageStartTime, i.properties.quantity]).sort(),
    ).toEqual([
      ["vm1", "2026-11-24T00:00:00+00:00", "0.1"],
      ["vm2", "2026-11-24T00:00:00+00:00", "123456789012345.0000000001"],
    ]);
    expect(early[0]!.name).toContain("-Hourly_20261124_0000_");
    expect(early[0]!.properties.usageEndTime).toBe("2026-11-24T01:00:00+00:00");
    // Usage of 00:00 reported at 05:30 belongs to reported hour 05, not to the window that closed before.
    const late = parsePage((await hourly(day1 + 5 * H, day1 + 6 * H)).body).value;
    expect(
      late.map((i) => [resourceOf(i), i.properties.usageStartTime, i.properties.quantity]).sort(),
    ).toEqual([
      ["vm1", "2026-11-24T00:00:00+00:00", "0.9"],
      ["vm1", "2026-11-24T03:00:00+00:00", "2.5"],
    ]);
    expect(parsePage((await hourly(day1 + 2 * H, day1 + 5 * H)).body).value).toEqual([]);
  });

  it("parses the dates every real client sends, from the raw query string", async () => {
    const want = (await azureGet(t, azureUrl(w.subA, TENANT, day1Query()))).body;
    const raw = (start: string, end: string) =>
      azureGet(
        t,
        azureUrl(w.subA, TENANT, `api-version=${API}&reportedStartTime=${start}&reportedEndTime=${end}`),
      );
    const forms: [string, string][] = [
      ["2026-11-24T00%3A00%3A00.000Z", "2026-11-25T00%3A00%3A00.000Z"], // the JS SDKs
      ["2026-11-24T00:00:00.0000000Z", "2026-11-25T00:00:00.0000000Z"], // Az PowerShell, UTC
      ["2026-11-24T01:00:00.0000000+01:00", "2026-11-25T01:00:00.0000000+01:00"], // Az PowerShell, local offset, raw +
      ["2026-11-23T19:00:00.0000000-05:00", "2026-11-24T19:00:00.0000000-05:00"],
      ["2026-11-24T00%3a00%3a00%2b00%3a00", "2026-11-25T00%3a00%3a00%2b00%3a00"], // the documentation's escapes
      ["2026-11-24T00%3a00%3a00%2b00%3a00Z", "2026-11-25T00%3a00%3a00%2b00%3a00Z"], // its example, offset and Z
      ["2026-11-24T00:00:00", "2026-11-25T00:00:00"], // {0:s}: no offset at all is UTC
      ["2026-11-24T00%3A00%3A00.0000000%2B00%3A00", "2026-11-25T00%3A00%3A00.0000000%2B00%3A00"], // EscapeDataString('o')
      ["2026-11-24T02:00:00+0200", "2026-11-25T02:00:00+0200"],
      ["2026-11-24T00:00:00.00Z", "2026-11-25T00:00:00.00Z"], // Usagesummary.ps1
      ["2026-11-24T01:00:00%2001:00", "2026-11-25T01:00:00%2001:00"], // a + that something form-decoded
    ];
    for (const [start, end] of forms) {
      const r = await raw(start, end);
      expect(r.statusCode, `${start}: ${r.body}`).toBe(200);
      expect(r.body, start).toBe(want);
    }
  });

  it("refuses bad requests with Azure's codes in the ARM envelope", async () => {
    const err = async (url: string, status: number, code: string, mention?: string) => {
      const r = await azureGet(t, url);
      expect(r.statusCode, `${url}: ${r.body}`).toBe(status);
      const body = JSON.parse(r.body);
      expect(Object.keys(body)).toEqual(["error"]);
      expect(Object.keys(body.error)).toEqual(["code", "message"]);
      expect(body.error.code, url).toBe(code);
      if (mention) expect(body.error.message).toContain(mention);
      return r;
    };
    const u = (q: string) => azureUrl(w.subA, TENANT, q);
    const dates = `reportedStartTime=${iso(day1)}&reportedEndTime=${iso(day1 + D)}`;
    await err(u(dates), 400, "NoApiVersion");
    await err(u(`${dates}&api-version=1.0`), 400, "InvalidApiVersionParameter", "2015-06-01-preview");
    await err(
      u(`${dates}&api-version=${API}&aggregationGranularity=Weekly`),
      400,
      "InvalidAggregationGranularity",
    );
    await err(u(`${dates}&api-version=${API}&aggregationGranularity=`), 400, "InvalidAggregationGranularity");
    await err(
      u(`reportedEndTime=${iso(day1 + D)}&api-version=${API}`),
      400,
      "InvalidProperty",
      "reportedStartTime",
    );
    await err(
      u(`reportedStartTime=${iso(day1 + H)}&reportedEndTime=${iso(day1 + D)}&api-version=${API}`),
      400,
      "InvalidProperty",
      "'reportedStartTime'",
    );
    await err(
      u(
        `reportedStartTime=${iso(day1)}&reportedEndTime=${iso(day1 + 2 * H + 60_000)}&aggregationGranularity=Hourly&api-version=${API}`,
      ),
      400,
      "InvalidProperty",
      "'reportedEndTime'",
    );
    await err(
      u(`reportedStartTime=${iso(day1 + D)}&reportedEndTime=${iso(day1)}&api-version=${API}`),
      400,
      "InvalidProperty",
      "must be after",
    );
    await err(
      u(`reportedStartTime=2026-11-24T00:00:00.0000001Z&reportedEndTime=${iso(day1 + D)}&api-version=${API}`),
      400,
      "InvalidProperty",
      "reportedStartTime",
    );
    await err(
      u(`reportedStartTime=yesterday&reportedEndTime=${iso(day1)}&api-version=${API}`),
      400,
      "InvalidProperty",
    );
    await err(
      u(`reportedStartTime=2026-02-30T00:00:00Z&reportedEndTime=${iso(day1)}&api-version=${API}`),
      400,
      "InvalidProperty",
      "does not exist",
    );
    await err(
      u(`${dates}&api-version=${API}&reportedStartTime=${iso(day1 - D)}`),
      400,
      "InvalidProperty",
      "more than once",
    );
    await err(u(`${dates}&api-version=${API}&showDetails=%E0%A4%A`), 400, "InvalidProperty", "showDetails");
    // The future, and a window whose processing is not complete (the current day).
    await err(u(sdkQuery(day1 + D, day1 + 3 * D)), 400, "RequestEndTimeIsInFuture", "future");
    setClock(t, day1 + 2 * D + 5_000); // day 2 ended 5 s ago: not sealed yet
    await err(u(sdkQuery(day1 + D, day1 + 2 * D)), 400, "RequestEndTimeIsInFuture", "not complete");
    setClock(t, day1 + 2 * D + 11_000);
    expect((await azureGet(t, u(sdkQuery(day1 + D, day1 + 2 * D)))).statusCode).toBe(200);
    setClock(t, day1 + D + H);
    // Who and what does not exist, or is not visible, is a subscription that could not be found.
    await err(`/subscriptions//providers/${TENANT}?${day1Query()}`, 400, "SubscriptionIdMissingInRequest");
    await err(azureUrl(guid(0xdead), TENANT, day1Query()), 404, "SubscriptionNotFound");
    await err(azureUrl("not-a-guid", TENANT, day1Query()), 404, "SubscriptionNotFound");
    await err(azureUrl(w.subA, OPERATOR, day1Query()), 404, "SubscriptionNotFound");
    const anon = await t.app.inject({ method: "GET", url: u(day1Query()) });
    expect(anon.statusCode).toBe(401);
    expect(anon.headers["www-authenticate"]).toMatch(/^Bearer /);
    expect(JSON.parse(anon.body).error.code).toBe("AuthenticationFailed");
    const stranger = await azureGet(t, u(day1Query()), await bearer("stranger"));
    expect(stranger.statusCode).toBe(404);
    expect(JSON.parse(stranger.body).error.code).toBe("SubscriptionNotFound");
  });

  it("matches the namespace and type case-insensitively, and accepts the dot-segment path", async () => {
    const want = (await azureGet(t, azureUrl(w.subA, TENANT, day1Query()))).body;
    for (const path of [
      `/subscriptions/${w.subA}/providers/microsoft.commerce/usageAggregates`,
      `/SUBSCRIPTIONS/${w.subA.toUpperCase()}/Providers/MICROSOFT.COMMERCE/USAGEAGGREGATES/`,
      `/subscriptions/${w.subA}/providers/Microsoft.Commerce/locations/../UsageAggregates`,
    ]) {
      const r = await azureGet(t, `${path}?${day1Query()}`);
      expect(r.statusCode, path).toBe(200);
      expect(r.body).toBe(want);
    }
    const root = t.svc.system.defaultProviderSubscriptionId;
    const admin = (await azureGet(t, azureUrl(root, OPERATOR, day1Query()))).body;
    for (const path of [
      `/subscriptions/${root}/providers/microsoft.commerce.admin/SubscriberUsageAggregates`,
      `/subscriptions/${root}/providers/Microsoft.Commerce.Admin/locations/../subscriberUsageAggregates`,
      `/subscriptions/${root}/providers/${LEGACY_OPERATOR.toLowerCase()}`,
    ]) {
      const r = await azureGet(t, `${path}?${day1Query()}`);
      expect(r.statusCode, path).toBe(200);
      expect(r.body).toBe(admin);
    }
    expect(
      (await azureGet(t, `/subscriptions/${w.subA}/providers/Microsoft.Commerce/Other?${day1Query()}`))
        .statusCode,
    ).toBe(404);
  });

  it("answers the operator API with the provider's direct tenants only, deleted ones included", async () => {
    const root = t.svc.system.defaultProviderSubscriptionId;
    const subsOf = (items: AzureItem[]) => [...new Set(items.map((i) => i.properties.subscriptionId))].sort();
    const rootPage = parsePage((await azureGet(t, azureUrl(root, OPERATOR, day1Query()))).body);
    // The root's direct tenants: A, B and the reseller's own provider subscription; not C (the reseller's).
    expect(subsOf(rootPage.value)).toEqual([w.subA, w.subB, resellerSub].sort());
    expect(rootPage.value.every((i) => i.type === "Microsoft.Commerce.Admin/UsageAggregate")).toBe(true);
    expect(rootPage.value[0]!.id).toBe(
      `/subscriptions/${rootPage.value[0]!.properties.subscriptionId}/providers/Microsoft.Commerce.Admin/UsageAggregate/${rootPage.value[0]!.name}`,
    );
    const b = parsePage(
      (await azureGet(t, azureUrl(root, OPERATOR, day1Query({ subscriberId: w.subB })))).body,
    );
    expect(b.value.map((i) => [i.properties.subscriptionId, i.properties.quantity])).toEqual([[w.subB, "3"]]);
    for (const notDirect of [w.subC, root, guid(0xbeef)]) {
      const r = await azureGet(t, azureUrl(root, OPERATOR, day1Query({ subscriberId: notDirect })));
      expect(r.statusCode).toBe(400);
      expect(JSON.parse(r.body).error.code).toBe("SubscriberIdIsNotDirectTenant");
    }
    const malformed = await azureGet(t, azureUrl(root, OPERATOR, day1Query({ subscriberId: "x" })));
    expect(JSON.parse(malformed.body).error.code).toBe("InvalidProperty");
    // The tenant API ignores subscriberId (the 2016 article lists it there by mistake).
    const ignored = await azureGet(t, azureUrl(w.subA, TENANT, day1Query({ subscriberId: w.subB })));
    expect(ignored.body).toBe((await azureGet(t, azureUrl(w.subA, TENANT, day1Query()))).body);

    // A delegated provider: its administrators, and Readers of its provider subscription, see its tenants.
    await op("POST", "/api/v1/role-assignments", {
      principalId: "reseller-admin",
      role: "Owner",
      scope: "/providers/reseller",
    });
    await op("POST", "/api/v1/role-assignments", {
      principalId: "reseller-sub-reader",
      role: "Reader",
      scope: `/subscriptions/${resellerSub}`,
    });
    for (const who of ["reseller-admin", "reseller-sub-reader"]) {
      const headers = await bearer(who);
      const mine = await azureGet(t, azureUrl(resellerSub, OPERATOR, day1Query()), headers);
      expect(mine.statusCode, who).toBe(200);
      expect(subsOf(parsePage(mine.body).value)).toEqual([w.subC]);
      const up = await azureGet(t, azureUrl(root, OPERATOR, day1Query()), headers);
      expect(up.statusCode, who).toBe(404);
      expect(up.body).not.toContain(w.subB);
    }
    // A tenant's Owner is no provider: the operator API on its subscription is not found.
    await op("POST", "/api/v1/role-assignments", {
      principalId: "a-owner",
      role: "Owner",
      scope: `/subscriptions/${w.subA}`,
    });
    const tenant = await bearer("a-owner");
    expect((await azureGet(t, azureUrl(resellerSub, OPERATOR, day1Query()), tenant)).statusCode).toBe(404);
    expect((await azureGet(t, azureUrl(w.subA, TENANT, day1Query()), tenant)).statusCode).toBe(200);
    expect((await azureGet(t, azureUrl(w.subB, TENANT, day1Query()), tenant)).statusCode).toBe(404);

    // Deleted subscriptions keep their usage in the operator API.
    await op("DELETE", `/api/v1/subscriptions/${w.subB}`);
    const afterDelete = parsePage((await azureGet(t, azureUrl(root, OPERATOR, day1Query()))).body);
    expect(subsOf(afterDelete.value)).toEqual([w.subA, w.subB, resellerSub].sort());
    const onlyB = await azureGet(t, azureUrl(root, OPERATOR, day1Query({ subscriberId: w.subB })));
    expect(parsePage(onlyB.body).value).toHaveLength(1);
  });

  it("pages more than 2,000 aggregates with stable, absolute, self-contained links, while usage keeps arriving", async () => {
    const base = T0 + 5 * D;
    // 1 reported hour, 110 VMs × 24 usage hours = 2,640 hourly aggregates for subscription A.
    setClock(t, base + D + 20 * 60_000);
    const recs = [];
    for (let vm = 0; vm < 110; vm++)
      for (let h = 0; h < 24; h++)
        recs.push(
          record({
            id: `p-${vm}-${h}`,
            sub: w.subA,
            vm: `vm${vm}`,
            quantity: `${vm}.${h}`,
            start: base + h * H,
          }),
        );
    for (let i = 0; i < recs.length; i += 1000) {
      const r = await ingest(t, w.apiKey, recs.slice(i, i + 1000));
      expect(r.statusCode).toBe(200);
    }
    setClock(t, base + D + H + 11_000);
    const q = sdkQuery(base + D, base + D + H, { aggregationGranularity: "Hourly", showDetails: "true" });
    const first = await azureGet(t, azureUrl(w.subA, TENANT, q));
    const page1 = parsePage(first.body);
    expect(page1.value).toHaveLength(1000);
    const link = new URL(page1.nextLink!);
    expect(page1.nextLink!.startsWith(`http://localhost:80/subscriptions/${w.subA}/`)).toBe(true);
    expect(link.pathname).toBe(`/subscriptions/${w.subA}/providers/Microsoft.Commerce/UsageAggregates`);
    expect(page1.nextLink).toContain(
      `?reportedStartTime=2026-11-29T00%3A00%3A00%2B00%3A00&reportedEndTime=2026-11-29T01%3A00%3A00%2B00%3A00` +
        `&aggregationGranularity=Hourly&showDetails=true&api-version=${API}&continuationToken=`,
    );
    const token = link.searchParams.get("continuationToken")!;
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);

    // Late usage arrives for those hours between the pages, and is closed: nothing on later pages changes.
    setClock(t, base + D + 2 * H + 5 * 60_000);
    await ingest(
      t,
      w.apiKey,
      Array.from({ length: 30 }, (_, k) =>
        record({ id: `late-${k}`, sub: w.subA, vm: `vm${k}`, quantity: "1000", start: base + 2 * H }),
      ),
    );
    setClock(t, base + D + 3 * H + 11_000);
    const rest = await walk(t, `${link.pathname}${link.search}`);
    const items = [...page1.value, ...rest.items];
    expect(rest.pages.map((p) => p.value.length)).toEqual([1000, 640]);
    expect(rest.pages.at(-1)!.nextLink).toBeUndefined();
    expect(new Set(items.map((i) => i.id)).size).toBe(2640);
    const want = new Map(
      recs.map((r) => [`${r.resourceUri.split("/").pop()}|${r.usageStartTime}`, String(r.quantity)]),
    );
    const got = new Map(
      items.map((i) => [
        `${resourceOf(i)}|${new Date(i.properties.usageStartTime).toISOString()}`,
        i.properties.quantity,
      ]),
    );
    expect(got).toEqual(new Map([...want].map(([k, v]) => [k, sum([v])])));
    // The late usage is in the window it was reported in, once.
    const late = await walk(
      t,
      azureUrl(
        w.subA,
        TENANT,
        sdkQuery(base + D + 2 * H, base + D + 3 * H, { aggregationGranularity: "Hourly" }),
      ),
    );
    expect(late.items.map((i) => i.properties.quantity)).toEqual(Array(30).fill("1000"));

    // The same walk through the legacy SDK's habit: dates re-sent and aggregationGranularity=Daily over the link.
    const legacy = `${link.pathname}?${sdkQuery(base + D, base + D + H, { aggregationGranularity: "Daily" })}&continuationToken=${token}`;
    const viaLegacy = await walk(t, legacy);
    expect(viaLegacy.items).toEqual(rest.items);

    // Totals equal the native API's for the same window.
    const native = await usageAll(t, {
      from: iso(base + D),
      to: iso(base + D + H),
      subscriptionId: w.subA,
      limit: 5000,
    });
    expect(sum(items.map((i) => i.properties.quantity))).toBe(sum(native.map((i) => i.quantity)));
    expect(native).toHaveLength(items.length);

    // A token is bound to its query: another subscription, API or a changed byte is refused.
    const tamper = (s: string) => s.slice(0, 10) + (s[10] === "A" ? "B" : "A") + s.slice(11);
    for (const url of [
      azureUrl(w.subB, TENANT, `${q}&continuationToken=${token}`),
      azureUrl(t.svc.system.defaultProviderSubscriptionId, OPERATOR, `${q}&continuationToken=${token}`),
      azureUrl(w.subA, TENANT, `${q}&continuationToken=${tamper(token)}`),
      azureUrl(w.subA, TENANT, `${q}&continuationToken=${token}x`),
      azureUrl(w.subA, TENANT, `${q}&continuationToken=bm90IGEgdG9rZW4`),
    ]) {
      const r = await azureGet(t, url);
      expect(r.statusCode, url).toBe(400);
      expect(JSON.parse(r.body).error).toMatchObject({ code: "InvalidProperty" });
      expect(JSON.parse(r.body).error.message).toContain("continuationToken");
    }
  });

  it("totals the same as the native API, daily, for every tenant of the operator", async () => {
    const root = t.svc.system.defaultProviderSubscriptionId;
    const from = T0;
    const to = T0 + 6 * D;
    const azure = await walk(t, azureUrl(root, OPERATOR, sdkQuery(from, to)));
    for (const sub of [w.subA, w.subB, resellerSub]) {
      const native = await usageAll(t, {
        from: iso(from),
        to: iso(to),
        granularity: "daily",
        subscriptionId: sub,
        limit: 5000,
      });
      const mine = azure.items.filter((i) => i.properties.subscriptionId === sub);
      expect(mine.length).toBe(native.length);
      expect(sum(mine.map((i) => i.properties.quantity))).toBe(sum(native.map((i) => i.quantity)));
    }
    expect(azure.items.some((i) => i.properties.subscriptionId === w.subC)).toBe(false);
  });

  it("protects answered windows from history imports", async () => {
    const c = await readUsageClock(t.svc.store.db);
    expect(c.answeredFrom).not.toBeNull();
    expect(c.answeredFrom!).toBeLessThanOrEqual(day1);
  });
});

describe.each(DIALECTS)("Azure usage API links and load shedding on %s", (dialect) => {
  const day = T0;
  const setup = async (env: Record<string, string>) => {
    const t = await openTestApp(dialect, { env });
    const w = await makeWorld(t);
    setClock(t, day + 10 * 60_000);
    await ingest(
      t,
      w.apiKey,
      Array.from({ length: 1001 }, (_, k) =>
        record({ id: `l-${k}`, sub: w.subA, vm: `vm${k}`, quantity: 1, start: day - H }),
      ),
    );
    setClock(t, day + D + H);
    return { t, w };
  };

  it("builds nextLink from the request, honouring X-Forwarded-* only from trusted proxies", async () => {
    const { t, w } = await setup({ TALLY_TRUSTED_PROXIES: "127.0.0.1" });
    try {
      const url = azureUrl(w.subA, TENANT, sdkQuery(day, day + D));
      const link = async (headers: Record<string, string>, remoteAddress = "127.0.0.1") => {
        const r = await t.app.inject({ method: "GET", url, headers: { ...t.op, ...headers }, remoteAddress });
        expect(r.statusCode, r.body).toBe(200);
        return new URL(parsePage(r.body).nextLink!).origin;
      };
      expect(await link({ host: "tally.local:8443" })).toBe("http://tally.local:8443");
      const forwarded = {
        host: "10.0.0.5:8080",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "usage.example.com",
      };
      expect(await link(forwarded)).toBe("https://usage.example.com");
      expect(await link(forwarded, "10.9.9.9")).toBe("http://10.0.0.5:8080");
    } finally {
      await t.cleanup();
    }
  });

  it("uses TALLY_PUBLIC_URL when set", async () => {
    const { t, w } = await setup({ TALLY_PUBLIC_URL: "https://adminmanagement.local.azurestack.external/" });
    try {
      const r = await azureGet(t, azureUrl(w.subA, TENANT, sdkQuery(day, day + D)));
      expect(parsePage(r.body).nextLink).toMatch(
        new RegExp(
          `^https://adminmanagement\\.local\\.azurestack\\.external/subscriptions/${w.subA}/providers/`,
        ),
      );
    } finally {
      await t.cleanup();
    }
  });

  it("reads the next page ahead on PostgreSQL, answering it exactly as a fresh read would", async () => {
    const { t, w } = await setup({});
    const readAhead = async (outcome: string) =>
      (await t.svc.metrics.usageReadAhead.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    try {
      for (const [scope, api] of [
        [t.svc.system.defaultProviderSubscriptionId, OPERATOR],
        [w.subA, TENANT],
      ] as const) {
        const used = await readAhead("used");
        const first = await azureGet(t, azureUrl(scope, api, sdkQuery(day, day + D)));
        expect(first.statusCode, first.body).toBe(200);
        const next = new URL(parsePage(first.body).nextLink!);
        const ahead = await azureGet(t, next.pathname + next.search);
        // Nothing was read ahead for this one: the page after the first has no next page.
        const fresh = await azureGet(t, next.pathname + next.search);
        expect(ahead.statusCode, ahead.body).toBe(200);
        expect(ahead.body).toBe(fresh.body);
        expect(parsePage(ahead.body).value).toHaveLength(1);
        expect(await readAhead("used")).toBe(used + (dialect === "postgres" ? 1 : 0));
      }
      expect(await readAhead("started")).toBe(dialect === "postgres" ? 2 : 0);
    } finally {
      await t.cleanup();
    }
  });

  it("sheds load with 503 ServiceUnavailable and Retry-After when every slot and the queue are taken", async () => {
    const { t, w } = await setup({ TALLY_USAGE_API_CONCURRENCY: "1", TALLY_USAGE_API_QUEUE: "0" });
    try {
      const url = azureUrl(w.subA, TENANT, sdkQuery(day, day + D));
      let release!: () => void;
      const held = t.svc.usageGate.run(() => new Promise<void>((r) => (release = r)));
      const busy = await azureGet(t, url);
      expect(busy.statusCode).toBe(503);
      expect(busy.headers["retry-after"]).toBe("2");
      expect(JSON.parse(busy.body)).toEqual({
        error: { code: "ServiceUnavailable", message: expect.stringContaining("retry") },
      });
      release();
      await held;
      expect((await azureGet(t, url)).statusCode).toBe(200);
    } finally {
      await t.cleanup();
    }
  });
});
