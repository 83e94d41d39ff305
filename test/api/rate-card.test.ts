import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { UsageManagementClient as LegacyClient } from "@azure/arm-commerce";
import { UsageManagementClient as HybridClient } from "@azure/arm-commerce-profile-2020-09-01-hybrid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { buildApp } from "../../src/http/app.js";
import type { App } from "../../src/http/types.js";
import { DIALECTS, guid, openTestApp, operatorCalls, type TestApp } from "../helpers.js";
import { BLOB_CAPACITY, STATIC_IP, VM_BASE } from "../usage-helpers.js";

const NOW = Date.UTC(2026, 10, 20, 12);
const TLS = join(import.meta.dirname, "..", "fixtures", "rating-tls");
const FILTER =
  "OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'";
const path = (sub: string, query: string) =>
  `/subscriptions/${sub}/providers/Microsoft.Commerce/RateCard?${query}`;
const q = (filter: string, version = "2015-06-01-preview") =>
  `api-version=${version}&$filter=${encodeURIComponent(filter)}`;

describe.each(DIALECTS)("RateCard API on %s", (dialect) => {
  let t: TestApp;
  let https: App;
  let httpUrl = "";
  let httpsUrl = "";
  const D1 = guid(0x31);
  const SA = guid(0x3a);
  const SC = guid(0x3c);
  const tokens: Record<string, string> = {};

  const get = (url: string, who = "operator") =>
    t.app.inject({
      method: "GET",
      url,
      headers: who === "operator" ? t.op : who === "none" ? {} : { authorization: `Bearer ${tokens[who]}` },
    });
  const { ok } = operatorCalls(() => t);

  beforeAll(async () => {
    t = await openTestApp(dialect, { clock: new ManualClock(NOW) });
    await ok("POST", "/api/v1/directories", { id: D1, displayName: "Contoso" });
    await ok("POST", "/api/v1/providers", { id: "reseller", displayName: "Reseller" });
    await ok("POST", "/api/v1/offers", { id: "MS-AZR-0003P", displayName: "Pay-As-You-Go" });
    await ok("POST", "/api/v1/subscriptions", {
      id: SA,
      displayName: "A",
      directoryId: D1,
      offerId: "MS-AZR-0003P",
    });
    await ok("POST", "/api/v1/subscriptions", {
      id: SC,
      displayName: "C",
      directoryId: D1,
      providerId: "reseller",
      offerId: "MS-AZR-0003P",
    });
    const version = (effectiveDate: string, vm: Record<string, string>, terms: unknown[] = []) =>
      ok("POST", "/api/v1/price-sheets", {
        offerId: "MS-AZR-0003P",
        currency: "USD",
        effectiveDate,
        meters: [
          { meterId: VM_BASE, rates: vm, includedQuantity: "100" },
          { meterId: BLOB_CAPACITY, rates: { "0": "0.000213" } },
          { meterId: STATIC_IP, rates: { "0": "0.0035", "40": "0.003" } },
        ],
        terms,
      });
    await version("2026-10-01", { "0": "0.02" });
    await version("2026-11-16", { "0": "0.0125", "500": "0.01" }, [
      { name: "Monetary Credit", credit: "25", excludedMeterIds: [STATIC_IP] },
      {
        name: "Monetary Commitment",
        committedAmount: "1000",
        tieredDiscount: { "0": "0", "1000": "5", "5000": "7.5" },
        excludedMeterIds: [BLOB_CAPACITY],
      },
      { name: "Recurring Charge", recurringCharge: "12.5" },
    ]);
    await version("2026-12-01", { "0": "0.5" });
    await ok("POST", "/api/v1/markups", { scope: "/providers/reseller", percent: "20" });
    await ok("POST", "/api/v1/role-assignments", {
      principalId: "c-reader",
      role: "Reader",
      scope: `/subscriptions/${SC}`,
    });
    for (const who of ["c-reader", "stranger"])
      tokens[who] = await t.svc.tokens.sign({ subject: who, ttlMs: 3_600_000 });

    await t.app.listen({ port: 0, host: "127.0.0.1" });
    httpUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    https = await buildApp(t.svc, {
      https: { key: readFileSync(join(TLS, "key.pem")), cert: readFileSync(join(TLS, "cert.pem")) },
    });
    await https.listen({ port: 0, host: "127.0.0.1" });
    httpsUrl = `https://127.0.0.1:${(https.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await https?.close();
    await t.cleanup();
  });

  it("answers Azure's ResourceRateCardInfo, exact numbers on the wire, the version in force now", async () => {
    const r = await get(path(SA, q(FILTER)));
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.body).toBe(
      JSON.stringify({
        Currency: "USD",
        Locale: "en-US",
        IsTaxIncluded: false,
        OfferTerms: [
          {
            Name: "Monetary Credit",
            EffectiveDate: "2026-11-16T00:00:00Z",
            Credit: "@25",
            ExcludedMeterIds: [STATIC_IP],
          },
          {
            Name: "Monetary Commitment",
            EffectiveDate: "2026-11-16T00:00:00Z",
            TieredDiscount: { "0": "@0", "1000": "@5", "5000": "@7.5" },
            ExcludedMeterIds: [BLOB_CAPACITY],
          },
          { Name: "Recurring Charge", EffectiveDate: "2026-11-16T00:00:00Z", RecurringCharge: "@12.5" },
        ],
        Meters: [
          meter(BLOB_CAPACITY, "BlockBlobCapacity", "Storage", "GB*hours", { "0": "@0.000213" }, "@0"),
          meter(
            VM_BASE,
            "Base VM Size Hours",
            "Compute",
            "virtual core hours",
            { "0": "@0.0125", "500": "@0.01" },
            "@100",
          ),
          meter(
            STATIC_IP,
            "Static IP Address Usage",
            "Network",
            "IP addresses",
            { "0": "@0.0035", "40": "@0.003" },
            "@0",
          ),
        ].sort((a, b) => (a.MeterId < b.MeterId ? -1 : 1)),
      }).replace(/"@([^"]*)"/g, "$1"),
    );
  });

  it("applies the subscription's reseller markup to every price", async () => {
    const body = (await get(path(SC, q(FILTER)), "c-reader")).json();
    const vm = body.Meters.find((m: { MeterId: string }) => m.MeterId === VM_BASE);
    expect(vm.MeterRates).toEqual({ "0": 0.015, "500": 0.012 });
    expect(body.OfferTerms.find((o: { Name: string }) => o.Name === "Recurring Charge").RecurringCharge).toBe(
      15,
    );
  });

  it("answers a malformed $filter with 400 naming what is wrong, in the ARM envelope", async () => {
    const err = async (query: string) => {
      const r = await get(path(SA, query));
      expect(r.statusCode).toBe(400);
      expect(Object.keys(r.json())).toEqual(["error"]);
      return r.json().error as { code: string; message: string };
    };
    expect(await err("api-version=2015-06-01-preview")).toEqual({
      code: "InvalidProperty",
      message:
        "$filter is required: OfferDurableId eq '…' and Currency eq '…' and Locale eq '…' and RegionInfo eq '…' (missing: OfferDurableId, Currency, Locale, RegionInfo).",
    });
    expect((await err(q("OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD'"))).message).toBe(
      "$filter must give OfferDurableId, Currency, Locale, RegionInfo; missing: Locale, RegionInfo.",
    );
    expect((await err(q(`${FILTER} and Currency eq 'EUR'`))).message).toMatch(/Currency is given twice/);
    expect((await err(q("OfferDurableId ne 'x'"))).message).toMatch(/'ne' is not supported/);
    expect((await err(q("OfferDurableId eq 'x' or Currency eq 'USD'"))).message).toMatch(/expected 'and'/);
    expect((await err(q("Offer eq 'x'"))).message).toMatch(/'Offer' is not a RateCard filter field/);
    expect((await err(q(FILTER.replace("'USD'", "'XYZ'")))).message).toMatch(/Currency 'XYZ'/);
    expect((await err(q(FILTER.replace("'US'", "'USA'")))).message).toMatch(/RegionInfo 'USA'/);
    expect((await err(`$filter=${encodeURIComponent(FILTER)}`)).code).toBe("NoApiVersion");
    expect((await err(q(FILTER, "2016-01-01"))).code).toBe("InvalidApiVersionParameter");
    // Field names and keywords are case-insensitive, values may hold quotes.
    const relaxed = await get(
      path(
        SA,
        q(
          "offerdurableid EQ 'MS-AZR-0003P' AND currency eq 'usd' and LOCALE eq 'fr-FR' and regionInfo eq 'FR'",
        ),
      ),
    );
    expect(relaxed.json()).toMatchObject({ Currency: "USD", Locale: "fr-FR" });
  });

  it("answers 404 for subscriptions and offers the caller cannot see, and 401 without a token", async () => {
    const notFound = async (url: string, who: string, code: string) => {
      const r = await get(url, who);
      expect(r.statusCode).toBe(404);
      expect(r.json().error.code).toBe(code);
    };
    await notFound(path(guid(0x3f), q(FILTER)), "operator", "SubscriptionNotFound");
    await notFound(path(SA, q(FILTER)), "c-reader", "SubscriptionNotFound");
    await notFound(path(SA, q(FILTER)), "stranger", "SubscriptionNotFound");
    await notFound(path(SA, q(FILTER.replace("MS-AZR-0003P", "MS-AZR-0999P"))), "operator", "OfferNotFound");
    await notFound(path(SC, q(FILTER.replace("MS-AZR-0003P", "default"))), "c-reader", "OfferNotFound");
    await notFound(path(SA, q(FILTER.replace("'USD'", "'EUR'"))), "operator", "RateCardNotFound");
    const anon = await get(path(SA, q(FILTER)), "none");
    expect(anon.statusCode).toBe(401);
    expect(anon.json().error.code).toBe("AuthenticationFailed");
  });

  it("is read back by @azure/arm-commerce (legacy runtime, plain HTTP)", async () => {
    const credentials = {
      signRequest: async (req: { headers: { set(k: string, v: string): void } }) => {
        req.headers.set("authorization", t.op.authorization);
        return req;
      },
    };
    const client = new LegacyClient(credentials as never, SC, {
      baseUri: httpUrl,
      noRetryPolicy: true,
    } as never);
    const card = await client.rateCard.get(FILTER);
    expect(card.currency).toBe("USD");
    expect(card.locale).toBe("en-US");
    expect(card.isTaxIncluded).toBe(false);
    const vm = card.meters!.find((m) => m.meterId === VM_BASE)!;
    expect(vm).toMatchObject({
      meterCategory: "Compute",
      meterRates: { "0": 0.015, "500": 0.012 },
      includedQuantity: 100,
      meterTags: [],
      meterRegion: "",
    });
    expect(vm.effectiveDate!.toISOString()).toBe("2026-11-16T00:00:00.000Z");
    expect(card.meters!.map((m) => m.meterId).sort()).toEqual([BLOB_CAPACITY, STATIC_IP, VM_BASE].sort());
    expect(card.offerTerms!.map((o) => o.name)).toEqual([
      "Monetary Credit",
      "Monetary Commitment",
      "Recurring Charge",
    ]);
    expect(card.offerTerms![0]).toMatchObject({ credit: 25, excludedMeterIds: [STATIC_IP] });
    expect(card.offerTerms![1]).toMatchObject({ tieredDiscount: { "0": 0, "1000": 5, "5000": 7.5 } });
    expect(card.offerTerms![2]).toMatchObject({ recurringCharge: 15 });
    const bad = await client.rateCard.get("OfferDurableId eq 'MS-AZR-0003P'").catch((e: unknown) => e);
    expect(bad).toMatchObject({ statusCode: 400, code: "InvalidProperty" });
  });

  it("is read back by @azure/arm-commerce-profile-2020-09-01-hybrid (HTTPS only)", async () => {
    const credential = {
      getToken: async () => ({
        token: t.op.authorization.slice("Bearer ".length),
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
    };
    const client = new HybridClient(credential, SA, {
      endpoint: httpsUrl,
      credentialScopes: [`${httpsUrl}/.default`],
      tlsOptions: { ca: readFileSync(join(TLS, "cert.pem")) },
      retryOptions: { maxRetries: 0 },
    });
    const card = await client.rateCard.get(FILTER);
    expect(card.currency).toBe("USD");
    const vm = card.meters!.find((m) => m.meterId === VM_BASE)!;
    expect(vm.meterRates).toEqual({ "0": 0.0125, "500": 0.01 });
    expect(vm.includedQuantity).toBe(100);
    const ip = card.meters!.find((m) => m.meterId === STATIC_IP)!;
    expect(ip).toMatchObject({
      meterName: "Static IP Address Usage",
      unit: "IP addresses",
      meterRates: { "0": 0.0035, "40": 0.003 },
    });
    expect(card.offerTerms!.map((o) => o.name)).toEqual([
      "Monetary Credit",
      "Monetary Commitment",
      "Recurring Charge",
    ]);
    expect(card.offerTerms![2]).toMatchObject({ recurringCharge: 12.5 });
    const err = await client.rateCard.get("Currency eq 'USD'").catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 400, code: "InvalidProperty" });
    expect((err as Error).message).toMatch(/missing: OfferDurableId, Locale, RegionInfo/);
  });
});

function meter(
  id: string,
  name: string,
  category: string,
  unit: string,
  rates: Record<string, string>,
  included: string,
) {
  return {
    MeterId: id,
    MeterName: name,
    MeterCategory: category,
    MeterSubCategory: "",
    Unit: unit,
    MeterTags: [],
    MeterRegion: "",
    MeterRates: rates,
    EffectiveDate: "2026-11-16T00:00:00Z",
    IncludedQuantity: included,
  };
}
