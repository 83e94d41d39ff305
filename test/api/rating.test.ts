import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrap } from "../../src/bootstrap.js";
import { ManualClock } from "../../src/clock.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";
import { BLOB_CAPACITY, STATIC_IP, VM_BASE } from "../usage-helpers.js";

const NOW = Date.UTC(2026, 10, 20, 12);
const CSV_HEADER = "offerId,currency,effectiveDate,meterId,tierStart,unitPrice,includedQuantity";

describe.each(DIALECTS)("offers and price sheets on %s", (dialect) => {
  let t: TestApp;
  const D1 = guid(0x11);
  const S1 = guid(0x111);
  const tokens: Record<string, string> = {};
  let v1: string;
  let v2: string;

  const as = (
    who: string,
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    t.app.inject({
      method: method as "GET",
      url,
      headers: { ...(who === "operator" ? t.op : { authorization: `Bearer ${tokens[who]}` }), ...headers },
      ...(body === undefined
        ? {}
        : typeof body === "string"
          ? { payload: body }
          : { payload: body as object }),
    });
  const op = (method: string, url: string, body?: unknown) => as("operator", method, url, body);
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await op(method, url, body);
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.statusCode === 204 ? undefined : r.json();
  };
  const csv = (who: string, text: string, query = "") =>
    as(who, "POST", `/api/v1/price-sheets/import${query}`, text, { "content-type": "text/csv" });

  beforeAll(async () => {
    t = await openTestApp(dialect, { clock: new ManualClock(NOW) });
    await ok("POST", "/api/v1/directories", { id: D1, displayName: "Contoso" });
    await ok("POST", "/api/v1/providers", { id: "reseller", displayName: "Reseller" });
    await ok("POST", "/api/v1/providers", { id: "other-reseller", displayName: "Other" });
    await ok("POST", "/api/v1/role-assignments", {
      principalId: "r-admin",
      role: "Owner",
      scope: "/providers/reseller",
    });
    for (const who of ["r-admin", "t-owner", "nobody"])
      tokens[who] = await t.svc.tokens.sign({ subject: who, ttlMs: 3_600_000 });
  });
  afterAll(async () => t.cleanup());

  describe("offers", () => {
    it("has a default offer; creates, renames and lists offers, audited", async () => {
      expect((await op("GET", "/api/v1/offers/default")).json()).toMatchObject({
        id: "default",
        providerId: "operator",
      });
      const c = await op("POST", "/api/v1/offers", { id: "MS-AZR-0003P", displayName: "Pay-As-You-Go" });
      expect(c.statusCode).toBe(201);
      expect(c.json()).toMatchObject({
        id: "MS-AZR-0003P",
        displayName: "Pay-As-You-Go",
        providerId: "operator",
      });
      expect(
        (await op("POST", "/api/v1/offers", { id: "MS-AZR-0003P", displayName: "Again" })).statusCode,
      ).toBe(409);
      expect((await op("POST", "/api/v1/offers", { id: "bad id", displayName: "x" })).statusCode).toBe(400);
      const rc = await as("r-admin", "POST", "/api/v1/offers", {
        id: "reseller-gold",
        displayName: "Gold",
        providerId: "reseller",
      });
      expect(rc.statusCode).toBe(201);
      // A reseller cannot create offers for the operator, nor for a provider it cannot see.
      expect((await as("r-admin", "POST", "/api/v1/offers", { id: "x1", displayName: "x" })).statusCode).toBe(
        403,
      );
      expect(
        (
          await as("r-admin", "POST", "/api/v1/offers", {
            id: "x2",
            displayName: "x",
            providerId: "other-reseller",
          })
        ).statusCode,
      ).toBe(400);
      expect(
        (await op("PATCH", "/api/v1/offers/MS-AZR-0003P", { displayName: "PAYG" })).json().displayName,
      ).toBe("PAYG");
      const audit = await ok("GET", "/api/v1/audit-log?target=/offers/");
      expect(audit.items.map((e: { action: string; target: string }) => `${e.action} ${e.target}`)).toEqual([
        "offers/write /offers/MS-AZR-0003P",
        "offers/write /offers/reseller-gold",
        "offers/write /offers/MS-AZR-0003P",
      ]);
    });

    it("shows a reseller its own and its parents' offers, and a tenant only its subscription's", async () => {
      await ok("POST", "/api/v1/offers", {
        id: "other-offer",
        displayName: "Other",
        providerId: "other-reseller",
      });
      await ok("POST", "/api/v1/subscriptions", {
        id: S1,
        displayName: "S1",
        directoryId: D1,
        providerId: "reseller",
        offerId: "reseller-gold",
      });
      await ok("POST", "/api/v1/role-assignments", {
        principalId: "t-owner",
        role: "Owner",
        scope: `/subscriptions/${S1}`,
      });
      const ids = async (who: string) =>
        ((await as(who, "GET", "/api/v1/offers")).json().items as { id: string }[]).map((o) => o.id);
      expect(await ids("operator")).toEqual(["MS-AZR-0003P", "default", "other-offer", "reseller-gold"]);
      expect(await ids("r-admin")).toEqual(["MS-AZR-0003P", "default", "reseller-gold"]);
      expect(await ids("t-owner")).toEqual(["reseller-gold"]);
      expect(await ids("nobody")).toEqual([]);
      expect((await as("r-admin", "GET", "/api/v1/offers/other-offer")).statusCode).toBe(404);
      expect((await as("t-owner", "GET", "/api/v1/offers/MS-AZR-0003P")).statusCode).toBe(404);
      // Visible but not theirs to change: 403.
      expect((await as("r-admin", "PATCH", "/api/v1/offers/default", { displayName: "x" })).statusCode).toBe(
        403,
      );
      expect(
        (await as("t-owner", "PATCH", "/api/v1/offers/reseller-gold", { displayName: "x" })).statusCode,
      ).toBe(403);
    });

    it("validates a subscription's offer: it must exist and be the offering provider's or an ancestor's", async () => {
      const create = (offerId: string, providerId?: string) =>
        op("POST", "/api/v1/subscriptions", {
          displayName: "x",
          directoryId: D1,
          offerId,
          ...(providerId ? { providerId } : {}),
        });
      const unknown = await create("MS-AZR-9999P");
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json().error.details).toEqual([
        { field: "offerId", reason: "offer 'MS-AZR-9999P' does not exist" },
      ]);
      // A sibling reseller's offer, and a reseller's offer for the operator's own tenants, are refused.
      expect((await create("other-offer", "reseller")).statusCode).toBe(400);
      expect((await create("reseller-gold")).statusCode).toBe(400);
      // The operator's offers are resold below it.
      expect((await create("MS-AZR-0003P", "reseller")).statusCode).toBe(201);
      expect((await op("PATCH", `/api/v1/subscriptions/${S1}`, { offerId: "nope" })).statusCode).toBe(400);
      expect((await op("PATCH", `/api/v1/subscriptions/${S1}`, { offerId: "other-offer" })).statusCode).toBe(
        400,
      );
      expect((await op("PATCH", `/api/v1/subscriptions/${S1}`, { offerId: "default" })).json().offerId).toBe(
        "default",
      );
      await ok("PATCH", `/api/v1/subscriptions/${S1}`, { offerId: "reseller-gold" });
    });

    it("adopts, at start, the offer ids subscriptions carried before offers existed", async () => {
      // A subscription written before migration 0004, with an offer id nobody declared.
      await t.svc.store.db
        .insertInto("subscriptions")
        .values({
          id: guid(0x1ff),
          display_name: "legacy",
          directory_id: D1,
          provider_id: "operator",
          offer_id: "legacy-offer",
          state: "Active",
          created_at: NOW,
          updated_at: NOW,
          deleted_at: null,
        })
        .execute();
      await bootstrap(t.svc.store, NOW);
      await bootstrap(t.svc.store, NOW);
      expect((await op("GET", "/api/v1/offers/legacy-offer")).json()).toMatchObject({
        id: "legacy-offer",
        displayName: "legacy-offer",
        providerId: "operator",
      });
      const audit = (await ok("GET", "/api/v1/audit-log?target=/offers/legacy-offer")).items;
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({
        requestId: "bootstrap",
        details: { op: "create", reason: "bootstrap" },
      });
    });

    it("deletes only offers no subscription is on, with their price sheets; never the default", async () => {
      expect((await op("DELETE", "/api/v1/offers/default")).statusCode).toBe(409);
      expect((await op("DELETE", "/api/v1/offers/reseller-gold")).statusCode).toBe(409);
      await ok("POST", "/api/v1/offers", { id: "doomed", displayName: "Doomed" });
      await ok("POST", "/api/v1/price-sheets", {
        offerId: "doomed",
        currency: "EUR",
        effectiveDate: "2026-01-01",
        meters: [{ meterId: VM_BASE, rates: { "0": "1" } }],
      });
      // Deleted subscriptions still count: their history is rated with the offer.
      const sub = await ok("POST", "/api/v1/subscriptions", {
        displayName: "gone",
        directoryId: D1,
        offerId: "doomed",
      });
      await ok("DELETE", `/api/v1/subscriptions/${sub.id}`);
      expect((await op("DELETE", "/api/v1/offers/doomed")).statusCode).toBe(409);
      await ok("POST", "/api/v1/offers", { id: "doomed-2", displayName: "Doomed" });
      await ok("POST", "/api/v1/price-sheets", {
        offerId: "doomed-2",
        currency: "EUR",
        effectiveDate: "2026-01-01",
        meters: [{ meterId: VM_BASE, rates: { "0": "1" } }],
      });
      expect((await op("DELETE", "/api/v1/offers/doomed-2")).statusCode).toBe(204);
      expect((await op("GET", "/api/v1/offers/doomed-2")).statusCode).toBe(404);
      expect((await ok("GET", "/api/v1/price-sheets?offerId=default")).items).toEqual([]);
      const rows = await t.svc.store.db
        .selectFrom("price_sheets")
        .select("id")
        .where("offer_id", "=", "doomed-2")
        .execute();
      expect(rows).toEqual([]);
    });
  });

  describe("price sheets", () => {
    it("creates a version with exact prices, JSON numbers keeping their digits", async () => {
      const r = await as(
        "operator",
        "POST",
        "/api/v1/price-sheets",
        `{"offerId":"MS-AZR-0003P","currency":"usd","effectiveDate":"2026-10-01",
          "meters":[{"meterId":"${VM_BASE.toLowerCase()}","rates":{"0":12.345678901234567,"100":"0.100"},"includedQuantity":"10"},
                    {"meterId":"${BLOB_CAPACITY}","rates":{"0":1e-4}}],
          "terms":[{"name":"Monetary Credit","credit":50,"excludedMeterIds":["${STATIC_IP}"]},
                   {"name":"Recurring Charge","recurringCharge":"9.5"}]}`,
        { "content-type": "application/json" },
      );
      expect(r.statusCode).toBe(201);
      const s = r.json();
      v1 = s.id;
      expect(s).toMatchObject({
        offerId: "MS-AZR-0003P",
        currency: "USD",
        effectiveDate: "2026-10-01T00:00:00Z",
        effectiveUntil: null,
        meterCount: 2,
        createdBy: t.svc.system.operatorPrincipalId,
        terms: [
          { name: "Monetary Credit", credit: "50.00", excludedMeterIds: [STATIC_IP] },
          { name: "Recurring Charge", recurringCharge: "9.50" },
        ],
      });
      expect(s.meters).toEqual([
        {
          meterId: BLOB_CAPACITY,
          meterName: "BlockBlobCapacity",
          unit: "GB*hours",
          category: "Storage",
          rates: { "0": "0.0001" },
          includedQuantity: "0",
        },
        {
          meterId: VM_BASE,
          meterName: expect.any(String),
          unit: expect.any(String),
          category: expect.any(String),
          rates: { "0": "12.345678901234567", "100": "0.1" },
          includedQuantity: "10",
        },
      ]);
      const audit = (await ok("GET", `/api/v1/audit-log?target=/priceSheets/${v1}`)).items;
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({
        action: "prices/write",
        details: { op: "create", offerId: "MS-AZR-0003P" },
      });
      expect(audit[0].details.meters[0].rates).toEqual({ "0": "12.345678901234567", "100": "0.1" });
    });

    it("refuses an invalid version listing every problem, and never overwrites one", async () => {
      const r = await op("POST", "/api/v1/price-sheets", {
        offerId: "MS-AZR-0003P",
        currency: "XXX",
        effectiveDate: "2026-10-01T12:00:00Z",
        meters: [
          { meterId: "not-a-meter", rates: { "0": "1" } },
          { meterId: VM_BASE, rates: { "10": "1" } },
          { meterId: VM_BASE, rates: { "0": "-1", abc: "1" }, includedQuantity: "-5" },
        ],
        terms: [{ name: "Recurring Charge", recurringCharge: "1" }],
      });
      expect(r.statusCode).toBe(400);
      expect(r.json().error.details.map((d: { field: string }) => d.field)).toEqual([
        "currency",
        "effectiveDate",
        "meters[0].meterId",
        "meters[1].rates",
        "meters[2].meterId",
        "meters[2].rates.0",
        "meters[2].rates.abc",
        "meters[2].includedQuantity",
      ]);
      const dup = await op("POST", "/api/v1/price-sheets", {
        offerId: "MS-AZR-0003P",
        currency: "USD",
        effectiveDate: "2026-10-01",
        meters: [],
      });
      expect(dup.statusCode).toBe(409);
      expect(
        (
          await op("POST", "/api/v1/price-sheets", {
            offerId: "nope",
            currency: "USD",
            effectiveDate: "2026-10-01",
            meters: [],
          })
        ).statusCode,
      ).toBe(400);
    });

    it("refuses malformed and hostile JSON bodies", async () => {
      const post = (payload: string) =>
        as("operator", "POST", "/api/v1/price-sheets", payload, { "content-type": "application/json" });
      const broken = await post('{"offerId": "MS-AZR-0003P", ');
      expect(broken.statusCode).toBe(400);
      expect(broken.json().error.code).toBe("InvalidRequest");
      const poisoned = await post('{"offerId":"MS-AZR-0003P","__proto__":{"admin":true}}');
      expect(poisoned.statusCode).toBe(400);
      expect(poisoned.json().error.code).toBe("InvalidRequest");
      const nan = await post(
        `{"offerId":"MS-AZR-0003P","currency":"USD","effectiveDate":"2027-05-01","meters":[{"meterId":"${VM_BASE}","rates":{"0":"NaN"}}]}`,
      );
      expect(nan.json().error.details).toEqual([
        { field: "meters[0].rates.0", reason: "unit price 'NaN' is not a decimal number" },
      ]);
    });

    it("lists versions with their validity, filters by the one in force, and diffs them", async () => {
      const c = await ok("POST", "/api/v1/price-sheets", {
        offerId: "MS-AZR-0003P",
        currency: "USD",
        effectiveDate: "2026-11-16T00:00:00Z",
        meters: [
          {
            meterId: VM_BASE,
            rates: { "0": "12.345678901234567", "100": "0.09", "500": "0.08" },
            includedQuantity: "10",
          },
          { meterId: STATIC_IP, rates: { "0": "0.004" } },
        ],
      });
      v2 = c.id;
      const list = (await ok("GET", "/api/v1/price-sheets?offerId=MS-AZR-0003P")).items;
      expect(
        list.map((s: { id: string; effectiveUntil: string | null }) => [s.id, s.effectiveUntil]),
      ).toEqual([
        [v1, "2026-11-16T00:00:00Z"],
        [v2, null],
      ]);
      const at = async (when: string) =>
        (await ok("GET", `/api/v1/price-sheets?currency=usd&effectiveAt=${when}`)).items.map(
          (s: { id: string }) => s.id,
        );
      expect(await at("2026-11-15T23:59:59Z")).toEqual([v1]);
      expect(await at("2026-11-16T00:00:00Z")).toEqual([v2]);
      expect(await at("2026-09-30T00:00:00Z")).toEqual([]);
      const d = await ok("GET", `/api/v1/price-sheets/${v2}/diff`);
      expect(d.base.id).toBe(v1);
      expect(d.added.map((m: { meterId: string }) => m.meterId)).toEqual([STATIC_IP]);
      expect(d.removed.map((m: { meterId: string }) => m.meterId)).toEqual([BLOB_CAPACITY]);
      expect(d.changed).toEqual([
        expect.objectContaining({
          meterId: VM_BASE,
          tiers: [
            { tier: "100", before: "0.1", after: "0.09" },
            { tier: "500", before: null, after: "0.08" },
          ],
          includedQuantity: null,
        }),
      ]);
      expect(d.terms.changed).toBe(true);
      const back = await ok("GET", `/api/v1/price-sheets/${v1}/diff?base=${v2}`);
      expect(back.added.map((m: { meterId: string }) => m.meterId)).toEqual([BLOB_CAPACITY]);
      expect((await op("GET", `/api/v1/price-sheets/${v1}/diff`)).json().base).toBeNull();
    });

    it("withdraws a version only before it comes into force", async () => {
      expect((await op("DELETE", `/api/v1/price-sheets/${v1}`)).statusCode).toBe(409);
      const future = await ok("POST", "/api/v1/price-sheets", {
        offerId: "MS-AZR-0003P",
        currency: "USD",
        effectiveDate: "2027-01-01",
        meters: [{ meterId: VM_BASE, rates: { "0": "1" } }],
      });
      expect((await op("DELETE", `/api/v1/price-sheets/${future.id}`)).statusCode).toBe(204);
      expect((await op("GET", `/api/v1/price-sheets/${future.id}`)).statusCode).toBe(404);
      const audit = (await ok("GET", `/api/v1/audit-log?target=/priceSheets/${future.id}`)).items;
      expect(audit.map((e: { details: { op: string } }) => e.details.op)).toEqual(["delete", "create"]);
    });

    it("lets readers of an offer read its prices, and only its managers change them", async () => {
      // The tenant reads its own offer's prices; the reseller reads its parent's but cannot change them.
      await ok("POST", "/api/v1/price-sheets", {
        offerId: "reseller-gold",
        currency: "EUR",
        effectiveDate: "2026-11-01",
        meters: [{ meterId: VM_BASE, rates: { "0": "2" } }],
      });
      const ids = async (who: string) =>
        ((await as(who, "GET", "/api/v1/price-sheets")).json().items as { offerId: string }[]).map(
          (s) => s.offerId,
        );
      expect(await ids("t-owner")).toEqual(["reseller-gold"]);
      // The reseller resells the operator's offers (the default's, MS-AZR-0003P's, doomed's).
      expect(new Set(await ids("r-admin"))).toEqual(new Set(["MS-AZR-0003P", "doomed", "reseller-gold"]));
      expect(await ids("nobody")).toEqual([]);
      expect((await as("t-owner", "GET", `/api/v1/price-sheets/${v1}`)).statusCode).toBe(404);
      expect((await as("r-admin", "GET", `/api/v1/price-sheets/${v1}`)).statusCode).toBe(200);
      const attempt = { offerId: "MS-AZR-0003P", currency: "USD", effectiveDate: "2027-02-01", meters: [] };
      expect((await as("r-admin", "POST", "/api/v1/price-sheets", attempt)).statusCode).toBe(403);
      expect((await as("t-owner", "POST", "/api/v1/price-sheets", attempt)).statusCode).toBe(400);
      expect(
        (await as("t-owner", "POST", "/api/v1/price-sheets", { ...attempt, offerId: "reseller-gold" }))
          .statusCode,
      ).toBe(403);
      expect(
        (await as("r-admin", "POST", "/api/v1/price-sheets", { ...attempt, offerId: "reseller-gold" }))
          .statusCode,
      ).toBe(201);
    });
  });

  describe("CSV import and export", () => {
    it("rejects a file with bad rows whole, naming every bad row by line", async () => {
      const before = await t.svc.store.db.selectFrom("price_sheets").select("id").execute();
      const file = [
        CSV_HEADER,
        `MS-AZR-0003P,USD,2026-12-01,${VM_BASE},0,0.11,10`, // 2: fine
        `MS-AZR-0003P,USD,2026-12-01,${VM_BASE},100,-0.1,10`, // 3: negative price
        `MS-AZR-0003P,USD,2026-12-01,not-a-meter,0,1,`, // 4: unknown meter
        `MS-AZR-0003P,USDX,2026-12-32,${BLOB_CAPACITY},0,1,`, // 5: currency and date
        `MS-AZR-0003P,USD,2026-12-01,${VM_BASE},0,0.12,10`, // 6: tier 0 twice
        `MS-AZR-0003P,USD,2026-12-01,${VM_BASE},200,0.09,5`, // 7: another included quantity
        `nope,USD,2026-12-01,${VM_BASE},0,1,`, // 8: unknown offer
        `MS-AZR-0003P,USD,2026-12-01,${STATIC_IP},10,1,`, // 9: no tier at 0
        `MS-AZR-0003P,USD,2026-10-01,${STATIC_IP},0,1,`, // 10: that version exists
        `MS-AZR-0003P,USD,2026-12-01`, // 11: too few columns
      ].join("\n");
      const r = await csv("operator", file);
      expect(r.statusCode).toBe(400);
      const e = r.json().error;
      expect(e.code).toBe("ValidationFailed");
      expect(e.message).toBe("9 lines of the file are invalid; nothing was imported.");
      expect(e.details.map((d: { line: number; field: string }) => `${d.line} ${d.field}`)).toEqual([
        "3 unitPrice",
        "4 meterId",
        "5 currency",
        "5 effectiveDate",
        "6 tierStart",
        "7 includedQuantity",
        "8 offerId",
        "9 tierStart",
        "10 effectiveDate",
        "11 (row)",
      ]);
      expect(await t.svc.store.db.selectFrom("price_sheets").select("id").execute()).toEqual(before);
      const header = await csv(
        "operator",
        "offerId,currency,meterId,tierStart,unitPrice,includedQuantity,extra\n",
      );
      expect(header.json().error.details[0]).toMatchObject({ line: 1, field: "(header)" });
      expect(header.json().error.details[0].reason).toMatch(/missing effectiveDate; unknown extra/);
      expect((await csv("operator", "")).statusCode).toBe(400);
      expect((await csv("operator", `${CSV_HEADER}\n"unclosed,USD`)).json().error.details[0]).toMatchObject({
        line: 2,
        field: "(csv)",
      });
      // A reseller may not change the operator's offer.
      const theirs = await csv("r-admin", `${CSV_HEADER}\nMS-AZR-0003P,USD,2027-03-01,${VM_BASE},0,1,\n`);
      expect(theirs.json().error.details).toEqual([
        { line: 2, field: "offerId", reason: "you may not change the prices of offer 'MS-AZR-0003P'" },
      ]);
    });

    it("imports versions all at once, terms carried over from the version each follows, and exports them back", async () => {
      const file = [
        "\ufeffmeterId,offerId,currency,effectiveDate,tierStart,unitPrice,includedQuantity",
        `${VM_BASE},MS-AZR-0003P,USD,2026-12-01,0,0.11,10`,
        `${VM_BASE},MS-AZR-0003P,USD,2026-12-01,100,0.09,10`,
        `${BLOB_CAPACITY},MS-AZR-0003P,USD,2026-12-01,0,0.0002,`,
        "",
        `${VM_BASE},MS-AZR-0003P,EUR,2026-12-01T00:00:00Z,0,0.1,0`,
        `${VM_BASE},MS-AZR-0003P,USD,2027-01-01,0,0.105,10`,
      ].join("\r\n");
      const dry = await csv("operator", file, "?dryRun=true");
      expect(dry.statusCode).toBe(200);
      expect(dry.json().versions.every((v: { id: string | null }) => v.id === null)).toBe(true);
      const r = await csv("operator", file);
      expect(r.statusCode).toBe(201);
      const versions = r.json().versions;
      expect(
        versions.map(
          (v: {
            offerId: string;
            currency: string;
            effectiveDate: string;
            meterCount: number;
            lines: unknown;
          }) => [v.currency, v.effectiveDate, v.meterCount, v.lines],
        ),
      ).toEqual([
        ["EUR", "2026-12-01T00:00:00Z", 1, { first: 6, last: 6 }],
        ["USD", "2026-12-01T00:00:00Z", 2, { first: 2, last: 4 }],
        ["USD", "2027-01-01T00:00:00Z", 1, { first: 7, last: 7 }],
      ]);
      const dec = await ok("GET", `/api/v1/price-sheets/${versions[1].id}`);
      // Follows the Nov 16 version, which has no terms; Jan follows Dec within the file.
      expect(dec.terms).toEqual([]);
      expect(versions[1].termsFrom).toBe(v2);
      expect(versions[2].termsFrom).toBe("the file's lines 2-4");
      expect(dec.meters.map((m: { meterId: string; rates: unknown }) => [m.meterId, m.rates])).toEqual([
        [BLOB_CAPACITY, { "0": "0.0002" }],
        [VM_BASE, { "0": "0.11", "100": "0.09" }],
      ]);

      const exp = await op(
        "GET",
        "/api/v1/price-sheets/export?offerId=MS-AZR-0003P&currency=usd&effectiveAt=2026-12-15T00:00:00Z",
      );
      expect(exp.statusCode).toBe(200);
      expect(exp.headers["content-type"]).toMatch(/^text\/csv/);
      expect(exp.body).toBe(
        [
          CSV_HEADER,
          `MS-AZR-0003P,USD,2026-12-01,${BLOB_CAPACITY},0,0.0002,0`,
          `MS-AZR-0003P,USD,2026-12-01,${VM_BASE},0,0.11,10`,
          `MS-AZR-0003P,USD,2026-12-01,${VM_BASE},100,0.09,10`,
          "",
        ].join("\n"),
      );
      // The whole export reads back into a fresh offer as the same prices.
      const all = (await op("GET", "/api/v1/price-sheets/export?offerId=MS-AZR-0003P")).body;
      await ok("POST", "/api/v1/offers", { id: "MS-AZR-0003P-copy", displayName: "Copy" });
      const copy = all.replaceAll("MS-AZR-0003P,", "MS-AZR-0003P-copy,");
      expect((await csv("operator", copy)).statusCode).toBe(201);
      const again = (await op("GET", "/api/v1/price-sheets/export?offerId=MS-AZR-0003P-copy")).body;
      expect(again).toBe(copy);
      // The tenant exports only what it may read.
      const mine = (await as("t-owner", "GET", "/api/v1/price-sheets/export")).body.trim().split("\n");
      expect(mine.slice(1).every((l) => l.startsWith("reseller-gold,"))).toBe(true);
    });
  });

  describe("markups", () => {
    it("sets markups at delegated providers and billing accounts, with the right to decide them", async () => {
      const r = await as("r-admin", "POST", "/api/v1/markups", { scope: "/providers/reseller", percent: 20 });
      expect(r.statusCode).toBe(201);
      expect(r.json()).toMatchObject({ scope: "/providers/reseller", percent: "20" });
      expect(
        (await op("POST", "/api/v1/markups", { scope: "/PROVIDERS/reseller/", percent: 5 })).statusCode,
      ).toBe(409);
      expect(
        (await op("POST", "/api/v1/markups", { scope: "/providers/operator", percent: 5 })).statusCode,
      ).toBe(400);
      expect(
        (await op("POST", "/api/v1/markups", { scope: `/subscriptions/${S1}`, percent: 5 })).statusCode,
      ).toBe(400);
      expect(
        (await op("POST", "/api/v1/markups", { scope: "/providers/other-reseller", percent: -100.5 }))
          .statusCode,
      ).toBe(400);
      expect(
        (await as("r-admin", "POST", "/api/v1/markups", { scope: "/providers/other-reseller", percent: 1 }))
          .statusCode,
      ).toBe(400);
      expect(
        (await as("r-admin", "POST", "/api/v1/markups", { scope: "/billingAccounts/ba-1", percent: 1 }))
          .statusCode,
      ).toBe(403);
      const ba = await ok("POST", "/api/v1/markups", {
        scope: "/billingAccounts/ba-1",
        percent: "-15.5",
        description: "EA discount",
      });
      expect(ba.percent).toBe("-15.5");
      const list = async (who: string) =>
        ((await as(who, "GET", "/api/v1/markups")).json().items as { scope: string }[]).map((m) => m.scope);
      expect(await list("operator")).toEqual(["/billingAccounts/ba-1", "/providers/reseller"]);
      expect(await list("r-admin")).toEqual(["/providers/reseller"]);
      expect(await list("t-owner")).toEqual([]);
      const id = r.json().id;
      expect((await as("t-owner", "PATCH", `/api/v1/markups/${id}`, { percent: 1 })).statusCode).toBe(404);
      expect((await as("r-admin", "PATCH", `/api/v1/markups/${id}`, { percent: "25" })).json().percent).toBe(
        "25",
      );
      expect((await as("r-admin", "GET", `/api/v1/markups/${ba.id}`)).statusCode).toBe(404);
      expect((await as("r-admin", "DELETE", `/api/v1/markups/${ba.id}`)).statusCode).toBe(404);
      expect((await op("DELETE", `/api/v1/markups/${ba.id}`)).statusCode).toBe(204);
      const audit = (await ok("GET", "/api/v1/audit-log?target=/markups/")).items;
      expect(audit.map((e: { details: { op: string } }) => e.details.op)).toEqual([
        "delete",
        "update",
        "create",
        "create",
      ]);
    });
  });
});
