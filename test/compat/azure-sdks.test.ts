import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { UsageManagementClient as LegacyClient } from "@azure/arm-commerce";
import { UsageManagementClient as HybridClient } from "@azure/arm-commerce-profile-2020-09-01-hybrid";
import type { TokenCredential } from "@azure/core-auth";
import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/http/app.js";
import type { App } from "../../src/http/types.js";
import { parsePage, sum } from "../azure-helpers.js";
import { DIALECTS, openTestApp, type TestApp } from "../helpers.js";
import {
  BLOB_CAPACITY,
  H,
  ingest,
  makeWorld,
  record,
  STATIC_IP,
  setClock,
  VM_BASE,
  VM_WINDOWS,
  type World,
} from "../usage-helpers.js";

/**
 * The real clients against a real listening tally loaded with a known month of usage: the legacy
 * `@azure/arm-commerce` over HTTP, the current hybrid-profile SDK over HTTPS (it sends bearer
 * tokens over TLS only), and a raw client that sends the Az PowerShell module's wire format. Every
 * aggregate is compared with an independent computation (decimal.js over the generated records).
 */
const D = 24 * H;
const MONTH = Date.UTC(2026, 9, 1); // October 2026
const MONTH_END = Date.UTC(2026, 10, 1);
const TLS = join(import.meta.dirname, "..", "fixtures", "tls");
const CA = readFileSync(join(TLS, "cert.pem"));

interface Rec {
  id: string;
  sub: string;
  meter: string;
  vm: string;
  q: string;
  start: number;
  reported: number;
}

/** mulberry32: the month is the same on every run. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Expected aggregates of the records reported in [from, to), by subscription|meter|vm|bucket start. */
function expected(recs: Rec[], from: number, to: number, size: number, subs: string[]): Map<string, string> {
  const acc = new Map<string, Decimal>();
  for (const r of recs) {
    if (r.reported < from || r.reported >= to || !subs.includes(r.sub)) continue;
    const k = `${r.sub}|${r.meter}|${r.vm}|${r.start - (r.start % size)}`;
    acc.set(k, (acc.get(k) ?? new Decimal(0)).plus(r.q));
  }
  return new Map([...acc].map(([k, v]) => [k, v.toFixed()]));
}

const vmOf = (instanceData: string | undefined) =>
  (JSON.parse(instanceData ?? "{}")["Microsoft.Resources"].resourceUri as string).split("/").pop()!;

/** GET over HTTPS trusting the fixture CA; answers status and body text. */
function httpsGet(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: CA, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** `yyyy-MM-ddTHH:mm:ss.fffffffK` in a fixed offset, unescaped: what Get-AzsSubscriberUsage puts on the wire. */
function powershellDate(t: number, offsetHours: number): string {
  const local = new Date(t + offsetHours * H).toISOString().slice(0, 19);
  const sign = offsetHours < 0 ? "-" : "+";
  return `${local}.0000000${sign}${String(Math.abs(offsetHours)).padStart(2, "0")}:00`;
}

describe.each(DIALECTS)("Azure SDKs and PowerShell-style clients against tally on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let resellerSub: string;
  let httpApp: App;
  let httpsApp: App;
  let httpUrl: string;
  let httpsUrl: string;
  const recs: Rec[] = [];

  beforeAll(async () => {
    t = await openTestApp(dialect);
    w = await makeWorld(t);
    const p = await t.app.inject({ method: "GET", url: "/api/v1/providers/reseller", headers: t.op });
    resellerSub = p.json().subscriptionId;

    // A month: per subscription, 40 VMs run two hours a day; records mostly arrive within the hour,
    // some up to three days late (they belong to the reported window they arrive in).
    const rand = rng(7);
    const meters = [VM_BASE, VM_WINDOWS, STATIC_IP, BLOB_CAPACITY];
    for (const sub of [w.subA, w.subB, w.subC, resellerSub]) {
      for (let day = 0; day < 30; day++) {
        for (let vm = 0; vm < 40; vm++) {
          const hours = new Set([Math.floor(rand() * 24), Math.floor(rand() * 24)]);
          for (const h of hours) {
            const start = MONTH + day * D + h * H;
            const late = rand() < 0.1 ? Math.floor(rand() * 72) * H : 0;
            recs.push({
              id: `${sub.slice(-4)}-${day}-${vm}-${h}`,
              sub,
              meter: meters[vm % meters.length]!,
              vm: `vm${vm}`,
              q: `${Math.floor(rand() * 100)}.${String(Math.floor(rand() * 1e10)).padStart(10, "0")}`,
              start,
              reported: start + H + 7 * 60_000 + late,
            });
          }
        }
      }
    }
    const byReported = new Map<number, Rec[]>();
    for (const r of recs) byReported.set(r.reported, [...(byReported.get(r.reported) ?? []), r]);
    for (const at of [...byReported.keys()].sort((a, b) => a - b)) {
      setClock(t, at);
      const batch = byReported.get(at)!;
      const res = await ingest(
        t,
        w.apiKey,
        batch.map((r) =>
          record({ id: r.id, sub: r.sub, meter: r.meter, vm: r.vm, quantity: r.q, start: r.start }),
        ),
      );
      expect(res.statusCode).toBe(200);
    }
    // Late records reach into November; all of it is closed by now (and the operator's token, signed
    // at the test's start on 2026-11-23, is valid again).
    setClock(t, Date.UTC(2026, 10, 24));

    httpApp = await buildApp(t.svc);
    httpsApp = await buildApp(t.svc, {
      https: { cert: CA, key: readFileSync(join(TLS, "key.pem")) },
    });
    httpUrl = await httpApp.listen({ port: 0, host: "127.0.0.1" });
    httpsUrl = await httpsApp.listen({ port: 0, host: "127.0.0.1" });
    expect(httpsUrl.startsWith("https://")).toBe(true);
  }, 120_000);

  afterAll(async () => {
    await httpApp?.close();
    await httpsApp?.close();
    await t.cleanup();
  });

  const legacyClient = (subscriptionId: string) =>
    new LegacyClient(
      {
        signRequest: async (req: { headers: { set(k: string, v: string): void } }) => {
          req.headers.set("Authorization", `Bearer ${t.operatorToken}`);
          return req;
        },
      } as never,
      subscriptionId,
      { baseUri: httpUrl, noRetryPolicy: true },
    );

  const credential = (token: string): TokenCredential => ({
    getToken: async () => ({ token, expiresOnTimestamp: Date.now() + H }),
  });
  const hybridClient = (subscriptionId: string, token = t.operatorToken) =>
    new HybridClient(credential(token), subscriptionId, {
      endpoint: httpsUrl,
      retryOptions: { maxRetries: 0 },
      tlsOptions: { ca: CA.toString() },
    });

  interface SdkAggregate {
    subscriptionId?: string;
    meterId?: string;
    usageStartTime?: Date;
    usageEndTime?: Date;
    instanceData?: string;
    quantity?: number;
  }
  /** SDK items keyed as `expected` keys them; the SDKs give quantities as doubles. */
  const keyed = (items: SdkAggregate[]) =>
    new Map(
      items.map((u) => [
        `${u.subscriptionId}|${u.meterId}|${vmOf(u.instanceData)}|${u.usageStartTime!.getTime()}`,
        u.quantity!,
      ]),
    );
  const asDoubles = (m: Map<string, string>) => new Map([...m].map(([k, v]) => [k, Number(v)]));

  it("@azure/arm-commerce 3.x over HTTP: list and listNext, Daily and Hourly, late usage arriving between pages", async () => {
    const client = legacyClient(w.subA);
    const start = new Date(MONTH);
    const end = new Date(MONTH_END);
    for (const granularity of ["Daily", "Hourly"] as const) {
      let page = await client.usageAggregates.list(start, end, { aggregationGranularity: granularity });
      const all: SdkAggregate[] = [...page];
      let pages = 1;
      while (page.nextLink) {
        expect(page.nextLink.startsWith(`${httpUrl}/subscriptions/${w.subA}/providers/`)).toBe(true);
        // Usage keeps arriving (late, for October) and closing while the client pages.
        const now = t.clock.now();
        await ingest(t, w.apiKey, [
          record({
            id: `legacy-late-${granularity}-${pages}`,
            sub: w.subA,
            vm: "vm1",
            quantity: 1000,
            start: MONTH + 5 * H,
          }),
        ]);
        setClock(t, now + H);
        // listNext re-sends the dates and, without options, aggregationGranularity=Daily over the link
        // (as the README's sample does): the token's own query wins.
        page = await client.usageAggregates.listNext(page.nextLink, start, end);
        all.push(...page);
        pages++;
      }
      const size = granularity === "Daily" ? D : H;
      const want = expected(recs, MONTH, MONTH_END, size, [w.subA]);
      expect(pages).toBe(Math.ceil(want.size / 1000));
      expect(want.size).toBeGreaterThan(1000);
      expect(keyed(all)).toEqual(asDoubles(want));
      expect(all.every((u) => u.usageEndTime!.getTime() - u.usageStartTime!.getTime() === size)).toBe(true);
    }
  });

  it("@azure/arm-commerce-profile-2020-09-01-hybrid over HTTPS: for await and byPage", async () => {
    const client = hybridClient(w.subA);
    const start = new Date(MONTH);
    const end = new Date(MONTH_END);
    const items: SdkAggregate[] = [];
    for await (const u of client.usageAggregates.list(start, end, { aggregationGranularity: "Hourly" }))
      items.push(u);
    const want = expected(recs, MONTH, MONTH_END, H, [w.subA]);
    expect(want.size).toBeGreaterThan(2000);
    expect(keyed(items)).toEqual(asDoubles(want));

    const sizes: number[] = [];
    const paged: SdkAggregate[] = [];
    for await (const page of client.usageAggregates
      .list(start, end, { aggregationGranularity: "Hourly" })
      .byPage()) {
      sizes.push(page.length);
      paged.push(...page);
    }
    expect(sizes).toEqual([1000, 1000, want.size - 2000]);
    expect(paged).toEqual(items);

    // Resuming from a page's link (core-paging's continuation token is the nextLink).
    const iter = client.usageAggregates.list(start, end, { aggregationGranularity: "Daily" }).byPage();
    const first = (await iter.next()).value as SdkAggregate[] & { continuationToken?: string };
    const daily = expected(recs, MONTH, MONTH_END, D, [w.subA]);
    expect(first).toHaveLength(1000);
    const resumed: SdkAggregate[] = [...first];
    for await (const page of client.usageAggregates
      .list(start, end, { aggregationGranularity: "Daily" })
      .byPage({ continuationToken: first.continuationToken! }))
      resumed.push(...page);
    expect(keyed(resumed)).toEqual(asDoubles(daily));

    // Errors surface as RestError with Azure's code.
    await expect(
      client.usageAggregates.list(new Date(MONTH + 30 * 60_000), end).next(),
    ).rejects.toMatchObject({
      statusCode: 400,
      code: "InvalidProperty",
    });
    await expect(
      client.usageAggregates.list(start, new Date(Date.UTC(2026, 11, 31))).next(),
    ).rejects.toMatchObject({ statusCode: 400, code: "RequestEndTimeIsInFuture" });
  });

  it("a raw client with the Az PowerShell wire format: unescaped local-offset dates, nextLink followed verbatim", async () => {
    const root = t.svc.system.defaultProviderSubscriptionId;
    // Get-AzsSubscriberUsage: api-version first, dates unescaped with 7 digits and a +01:00 offset.
    const first =
      `${httpsUrl}/subscriptions/${root}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates` +
      `?api-version=2015-06-01-preview&reportedStartTime=${powershellDate(MONTH, 1)}` +
      `&reportedEndTime=${powershellDate(MONTH_END, 1)}&aggregationGranularity=Daily`;
    const texts: string[] = [];
    for (let url: string | undefined = first; url !== undefined; ) {
      const r = await httpsGet(url, t.operatorToken);
      expect(r.status, r.body.slice(0, 300)).toBe(200);
      texts.push(r.body);
      url = parsePage(r.body).nextLink;
      if (url !== undefined) expect(url.startsWith(`${httpsUrl}/subscriptions/${root}/`)).toBe(true);
    }
    const items = texts.flatMap((x) => parsePage(x).value);
    const want = expected(recs, MONTH, MONTH_END, D, [w.subA, w.subB, resellerSub]);
    expect(want.size).toBeGreaterThan(2000);
    expect(texts.length).toBe(Math.ceil(want.size / 1000));
    const got = new Map(
      items.map((i) => [
        `${i.properties.subscriptionId}|${i.properties.meterId}|${vmOf(i.properties.instanceData)}|${Date.parse(i.properties.usageStartTime)}`,
        i.properties.quantity,
      ]),
    );
    // Exact: the quantity text carries every one of the ten fractional digits the records had.
    expect(got).toEqual(want);
    expect(sum(items.map((i) => i.properties.quantity))).toBe(sum([...want.values()]));
    // The text itself, since the SDKs would accept malformed answers.
    for (const text of texts) {
      expect(text).toMatch(/^\{"value":\[\{"id":"\/subscriptions\//);
      expect(text).not.toMatch(/"quantity":"/);
      const dates = [...text.matchAll(/"usage(?:Start|End)Time":"([^"]+)"/g)].map((m) => m[1]!);
      expect(dates.every((d) => /^\d{4}-\d{2}-\d{2}T00:00:00\+00:00$/.test(d))).toBe(true);
      expect([
        ...text.matchAll(/"instanceData":"\{\\"Microsoft\.Resources\\":\{\\"resourceUri\\":/g),
      ]).toHaveLength(parsePage(text).value.length);
    }

    // A delegated provider's administrator sees its own direct tenant only, one of them by subscriberId.
    await t.app.inject({
      method: "POST",
      url: "/api/v1/role-assignments",
      headers: t.op,
      payload: { principalId: "reseller-ops", role: "Reader", scope: "/providers/reseller" },
    });
    const token = await t.svc.tokens.sign({ subject: "reseller-ops", ttlMs: H });
    const mine = await httpsGet(
      `${httpsUrl}/subscriptions/${resellerSub}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates` +
        `?api-version=2015-06-01-preview&reportedStartTime=${powershellDate(MONTH, 0)}` +
        `&reportedEndTime=${powershellDate(MONTH + 3 * D, 0)}&aggregationGranularity=Hourly&subscriberId=${w.subC}`,
      token,
    );
    expect(mine.status).toBe(200);
    const c = parsePage(mine.body).value;
    expect(new Set(c.map((i) => i.properties.subscriptionId))).toEqual(new Set([w.subC]));
    expect(c.map((i) => i.properties.quantity).sort()).toEqual(
      [...expected(recs, MONTH, MONTH + 3 * D, H, [w.subC]).values()].sort(),
    );
    const theirs = await httpsGet(
      `${httpsUrl}/subscriptions/${root}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates` +
        `?api-version=2015-06-01-preview&reportedStartTime=${powershellDate(MONTH, 0)}&reportedEndTime=${powershellDate(MONTH + D, 0)}`,
      token,
    );
    expect(theirs.status).toBe(404);
    expect(JSON.parse(theirs.body).error.code).toBe("SubscriptionNotFound");
  });

  it("the tenant API with the current SDK for a tenant's own token, and nothing of anyone else", async () => {
    await t.app.inject({
      method: "POST",
      url: "/api/v1/role-assignments",
      headers: t.op,
      payload: { principalId: "tenant-b", role: "Reader", scope: `/subscriptions/${w.subB}` },
    });
    const token = await t.svc.tokens.sign({ subject: "tenant-b", ttlMs: H });
    const items: SdkAggregate[] = [];
    const start = new Date(MONTH + 10 * D);
    const end = new Date(MONTH + 12 * D);
    for await (const u of hybridClient(w.subB, token).usageAggregates.list(start, end)) items.push(u);
    expect(keyed(items)).toEqual(asDoubles(expected(recs, MONTH + 10 * D, MONTH + 12 * D, D, [w.subB])));
    await expect(hybridClient(w.subA, token).usageAggregates.list(start, end).next()).rejects.toMatchObject({
      statusCode: 404,
      code: "SubscriptionNotFound",
    });
  });
});
