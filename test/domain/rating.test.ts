import { describe, expect, it } from "vitest";
import type { FieldIssue } from "../../src/domain/errors.js";
import { meterKey } from "../../src/domain/ids.js";
import { parseQuantity } from "../../src/domain/quantity.js";
import { formatMoney, type RoundingMode } from "../../src/domain/rating/currency.js";
import { Dec } from "../../src/domain/rating/decimal.js";
import { diffVersions } from "../../src/domain/rating/diff.js";
import {
  type RatingInput,
  type RatingResult,
  rate,
  type UsageQuantity,
} from "../../src/domain/rating/engine.js";
import { type PriceSheetVersion, parseRates, parseTerms } from "../../src/domain/rating/price-sheet.js";

const VM = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
const BLOB = "09F8879E-87E9-4305-A572-4B7BE209F857";
const IP = "F271A8A388C44D93956A063E1D2FA80B";
const KNOWN = [VM, BLOB, IP];
const resolve = (id: string) => KNOWN.find((k) => meterKey(k) === meterKey(id));

const NOV = { start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1) };
const day = (d: number, h = 0) => Date.UTC(2026, 10, d, h);
const q = (s: string) => parseQuantity(s) as bigint;

interface MeterSpec {
  rates: Record<string, string>;
  included?: string;
}

function makeVersion(
  id: string,
  effectiveFrom: number,
  meters: Record<string, MeterSpec>,
  terms: unknown[] = [],
  currency = "USD",
): PriceSheetVersion {
  const issues: FieldIssue[] = [];
  const map = new Map(
    Object.entries(meters).map(([meterId, spec]) => {
      const tiers = parseRates(spec.rates, meterId, issues);
      return [
        meterKey(meterId)!,
        { meterKey: meterKey(meterId)!, meterId, tiers: tiers ?? [], included: q(spec.included ?? "0") },
      ];
    }),
  );
  const parsed = parseTerms(terms, currency, resolve, issues);
  expect(issues).toEqual([]);
  return { id, effectiveFrom, meters: map, terms: parsed! };
}

function use(
  meterId: string,
  start: number,
  quantity: string,
  subscriptionId = "s1",
  hours = 24,
): UsageQuantity {
  return {
    subscriptionId,
    meterKey: meterKey(meterId)!,
    meterId,
    start,
    end: start + hours * 3_600_000,
    quantity: q(quantity),
  };
}

function run(over: Partial<RatingInput> & Pick<RatingInput, "versions" | "usage">): RatingResult {
  return rate({ currency: "USD", period: NOV, applyTerms: true, rounding: "half-even", ...over });
}

/** Lines as compact tuples: [subscription, meter, version, tier, quantity, unit price, amount]. */
const lines = (r: RatingResult) =>
  r.lines.map((l) => [
    l.subscriptionId,
    l.meterId,
    l.priceSheetId,
    l.tier,
    String(Number(l.quantity) / 1e10),
    l.unitPrice.toFixed(),
    formatMoney(l.amount, r.currency),
  ]);
const money = (r: RatingResult) => ({
  usage: formatMoney(r.usageAmount, r.currency),
  adjustments: formatMoney(r.adjustmentsAmount, r.currency),
  total: formatMoney(r.total, r.currency),
});

describe("rating engine", () => {
  it("graduates tiers over the period's cumulative quantity, a boundary position belonging to the higher tier", () => {
    const v = makeVersion("v1", NOV.start, {
      [VM]: { rates: { "0": "0.10", "100": "0.05", "1000": "0.01" } },
    });
    const r = run({
      versions: [v],
      usage: [use(VM, day(1), "60"), use(VM, day(2), "60"), use(VM, day(3), "900")],
    });
    expect(lines(r)).toEqual([
      ["s1", VM, "v1", "0", "100", "0.1", "10.00"],
      ["s1", VM, "v1", "100", "900", "0.05", "45.00"],
      ["s1", VM, "v1", "1000", "20", "0.01", "0.20"],
    ]);
    expect(money(r)).toEqual({ usage: "55.20", adjustments: "0.00", total: "55.20" });
    // Exactly 100 fills the first tier; the 101st unit is the second tier's.
    const edge = run({ versions: [v], usage: [use(VM, day(1), "100"), use(VM, day(2), "1")] });
    expect(lines(edge)).toEqual([
      ["s1", VM, "v1", "0", "100", "0.1", "10.00"],
      ["s1", VM, "v1", "100", "1", "0.05", "0.05"],
    ]);
    // A line carries its usage window: the first and last usage that landed in it.
    expect(new Date(r.lines[1]!.usageStart).toISOString()).toBe("2026-11-02T00:00:00.000Z");
    expect(new Date(r.lines[1]!.usageEnd).toISOString()).toBe("2026-11-04T00:00:00.000Z");
  });

  it("gives the included quantity first, counting it towards the tiers", () => {
    const v = makeVersion("v1", NOV.start, {
      [VM]: { rates: { "0": "0.10", "100": "0.05" }, included: "50" },
    });
    expect(lines(run({ versions: [v], usage: [use(VM, day(1), "120")] }))).toEqual([
      ["s1", VM, "v1", "included", "50", "0", "0.00"],
      ["s1", VM, "v1", "0", "50", "0.1", "5.00"],
      ["s1", VM, "v1", "100", "20", "0.05", "1.00"],
    ]);
    const small = run({ versions: [v], usage: [use(VM, day(1), "30"), use(VM, day(9), "20")] });
    expect(lines(small)).toEqual([["s1", VM, "v1", "included", "50", "0", "0.00"]]);
    expect(money(small).total).toBe("0.00");
    // An included quantity above the first tier boundaries skips them.
    const big = makeVersion("v2", NOV.start, { [VM]: { rates: { "0": "1", "10": "0.5" }, included: "25" } });
    expect(lines(run({ versions: [big], usage: [use(VM, day(1), "30")] }))).toEqual([
      ["s1", VM, "v2", "included", "25", "0", "0.00"],
      ["s1", VM, "v2", "10", "5", "0.5", "2.50"],
    ]);
  });

  it("rates usage with the version in force at its usage time, graduating across the change", () => {
    const v1 = makeVersion("v1", NOV.start, { [VM]: { rates: { "0": "1.00" } } });
    const v2 = makeVersion("v2", day(16), { [VM]: { rates: { "0": "2.00", "10": "1.50" } } });
    const usage = Array.from({ length: 30 }, (_, i) => use(VM, day(i + 1), "1"));
    const r = run({ versions: [v2, v1], usage });
    expect(lines(r)).toEqual([
      ["s1", VM, "v1", "0", "15", "1", "15.00"],
      // Positions 15–30 of the period: all past the new version's 10-unit boundary.
      ["s1", VM, "v2", "10", "15", "1.5", "22.50"],
    ]);
    expect(money(r).total).toBe("37.50");
    expect(new Date(r.lines[1]!.usageStart).toISOString()).toBe("2026-11-16T00:00:00.000Z");
    // Hourly aggregates rate exactly as daily ones.
    const hourly = usage.flatMap((u) => [
      { ...u, start: u.start + 5 * 3_600_000, end: u.start + 6 * 3_600_000, quantity: q("0.25") },
      { ...u, start: u.start + 9 * 3_600_000, end: u.start + 10 * 3_600_000, quantity: q("0.75") },
    ]);
    expect(money(run({ versions: [v1, v2], usage: hourly }))).toEqual(money(r));
  });

  it("reports usage no price applies to, and leaves it out of the amounts", () => {
    const v = makeVersion("v1", day(10), { [VM]: { rates: { "0": "1" } } });
    const r = run({
      versions: [v],
      usage: [use(VM, day(2), "5"), use(VM, day(11), "3"), use(BLOB, day(12), "7")],
    });
    expect(lines(r)).toEqual([["s1", VM, "v1", "0", "3", "1", "3.00"]]);
    expect(
      r.unpriced.map((u) => [u.meterId, u.reason, u.priceSheetId, String(Number(u.quantity) / 1e10)]),
    ).toEqual([
      [BLOB, "MeterNotOnPriceSheet", "v1", "7"],
      [VM, "NoPriceSheetInForce", null, "5"],
    ]);
    expect(money(r).total).toBe("3.00");
  });

  it("applies a credit to eligible meters only and never below zero, reporting what it did not cover", () => {
    const v = makeVersion(
      "v1",
      NOV.start,
      { [VM]: { rates: { "0": "1" } }, [BLOB]: { rates: { "0": "2" } } },
      [{ name: "Monetary Credit", credit: "100", excludedMeterIds: [BLOB.toLowerCase()] }],
    );
    const r = run({ versions: [v], usage: [use(VM, day(1), "30"), use(BLOB, day(1), "10")] });
    expect(r.adjustments).toHaveLength(1);
    const credit = r.adjustments[0]!;
    expect(credit.kind).toBe("credit");
    expect(credit.amount.toFixed(2)).toBe("-30.00");
    expect(credit.kind === "credit" && credit.unused.toFixed(2)).toBe("70.00");
    expect(money(r)).toEqual({ usage: "50.00", adjustments: "-30.00", total: "20.00" });
    // Two credits: the second covers what the first left.
    const two = makeVersion("v2", NOV.start, { [VM]: { rates: { "0": "1" } } }, [
      { name: "Monetary Credit", credit: "20" },
      { name: "Monetary Credit", credit: "25" },
    ]);
    const r2 = run({ versions: [two], usage: [use(VM, day(1), "30")] });
    expect(r2.adjustments.map((a) => a.amount.toFixed(2))).toEqual(["-20.00", "-10.00"]);
    expect(money(r2).total).toBe("0.00");
  });

  it("discounts by the committed amount's tier and bills the shortfall below the commitment", () => {
    const terms = [
      {
        name: "Monetary Commitment",
        committedAmount: "100",
        tieredDiscount: { "0": "0", "50": "5", "100": "10", "500": "20" },
        excludedMeterIds: [BLOB],
      },
    ];
    const v = makeVersion(
      "v1",
      NOV.start,
      { [VM]: { rates: { "0": "1" } }, [BLOB]: { rates: { "0": "2" } } },
      terms,
    );
    const above = run({ versions: [v], usage: [use(VM, day(1), "150"), use(BLOB, day(1), "10")] });
    expect(above.adjustments.map((a) => [a.kind, a.amount.toFixed(2)])).toEqual([
      ["commitmentDiscount", "-15.00"],
    ]);
    expect(money(above)).toEqual({ usage: "170.00", adjustments: "-15.00", total: "155.00" });
    const below = run({ versions: [v], usage: [use(VM, day(1), "50"), use(BLOB, day(1), "10")] });
    expect(below.adjustments.map((a) => [a.kind, a.amount.toFixed(2)])).toEqual([
      ["commitmentDiscount", "-5.00"],
      ["commitmentShortfall", "55.00"],
    ]);
    // 50 of VM less 10% is 45; the commitment makes it 100; BLOB is outside the commitment.
    expect(money(below).total).toBe("120.00");
  });

  it("charges recurring charges once per period and applies a markup to every price", () => {
    const v = makeVersion("v1", NOV.start, { [VM]: { rates: { "0": "0.125" } } }, [
      { name: "Recurring Charge", recurringCharge: "25" },
    ]);
    const markup = { scope: "/providers/reseller", percent: new Dec("20") };
    const r = run({ versions: [v], usage: [use(VM, day(1), "3")], markup });
    expect(lines(r)).toEqual([["s1", VM, "v1", "0", "3", "0.15", "0.45"]]);
    expect(r.lines[0]!.listUnitPrice.toFixed()).toBe("0.125");
    expect(r.adjustments.map((a) => [a.kind, a.amount.toFixed(2)])).toEqual([["recurringCharge", "30.00"]]);
    expect(money(r).total).toBe("30.45");
    const discount = run({
      versions: [v],
      usage: [use(VM, day(1), "8")],
      markup: { ...markup, percent: new Dec("-10") },
    });
    expect(lines(discount)).toEqual([["s1", VM, "v1", "0", "8", "0.1125", "0.90"]]);
  });

  it("rounds each line once, half-even by default or half-up, to the currency's minor units", () => {
    const at = (price: string, quantity: string, currency: string, rounding: RoundingMode) => {
      const v = makeVersion("v", NOV.start, { [VM]: { rates: { "0": price } } }, [], currency);
      const r = run({ versions: [v], usage: [use(VM, day(1), quantity)], currency, rounding });
      return formatMoney(r.total, currency);
    };
    expect(at("0.125", "1", "USD", "half-even")).toBe("0.12");
    expect(at("0.125", "1", "USD", "half-up")).toBe("0.13");
    expect(at("0.135", "1", "USD", "half-even")).toBe("0.14");
    expect(at("10.5", "1", "JPY", "half-even")).toBe("10");
    expect(at("10.5", "1", "JPY", "half-up")).toBe("11");
    expect(at("11.5", "1", "JPY", "half-even")).toBe("12");
    expect(at("0.0005", "1", "KWD", "half-even")).toBe("0.000");
    expect(at("0.0005", "1", "KWD", "half-up")).toBe("0.001");
    // Exact before rounding: 0.1 ten times is 1.
    const v = makeVersion("v", NOV.start, { [VM]: { rates: { "0": "0.1" } } });
    const tenth = run({
      versions: [v],
      usage: Array.from({ length: 10 }, (_, i) => use(VM, day(i + 1), "1")),
    });
    expect(money(tenth).total).toBe("1.00");
    const fine = run({ versions: [v], usage: [use(VM, day(1), "0.0000000001")] });
    expect(fine.lines[0]!.quantity).toBe(1n);
  });

  it("pools tiers over every subscription rated together, in usage-day then subscription order", () => {
    const v = makeVersion("v1", NOV.start, { [VM]: { rates: { "0": "1", "10": "0.5" } } });
    const r = run({
      versions: [v],
      usage: [use(VM, day(1), "8", "s2"), use(VM, day(1), "8", "s1"), use(VM, day(2), "4", "s1")],
    });
    expect(lines(r)).toEqual([
      ["s1", VM, "v1", "0", "8", "1", "8.00"],
      ["s1", VM, "v1", "10", "4", "0.5", "2.00"],
      ["s2", VM, "v1", "0", "2", "1", "2.00"],
      ["s2", VM, "v1", "10", "6", "0.5", "3.00"],
    ]);
  });

  it("counts usage before chargeFrom towards tiers without charging it, and applies terms only for whole periods", () => {
    const v = makeVersion("v1", NOV.start, { [VM]: { rates: { "0": "1", "10": "0.5" } } }, [
      { name: "Recurring Charge", recurringCharge: "5" },
    ]);
    const usage = [use(VM, day(1), "8"), use(VM, day(20), "4")];
    const partial = run({ versions: [v], usage, chargeFrom: day(15), applyTerms: false });
    expect(lines(partial)).toEqual([
      ["s1", VM, "v1", "0", "2", "1", "2.00"],
      ["s1", VM, "v1", "10", "2", "0.5", "1.00"],
    ]);
    expect(partial.adjustments).toEqual([]);
    expect(partial.termsApplied).toBe(false);
  });

  it("takes a period's terms from the version in force at its start, or the first one inside it", () => {
    const v1 = makeVersion("v1", Date.UTC(2026, 9, 1), { [VM]: { rates: { "0": "1" } } }, [
      { name: "Recurring Charge", recurringCharge: "10" },
    ]);
    const v2 = makeVersion("v2", day(10), { [VM]: { rates: { "0": "1" } } }, [
      { name: "Recurring Charge", recurringCharge: "99" },
    ]);
    const r = run({ versions: [v1, v2], usage: [] });
    expect(r.termsPriceSheetId).toBe("v1");
    expect(money(r).total).toBe("10.00");
    const late = run({ versions: [v2], usage: [] });
    expect(late.termsPriceSheetId).toBe("v2");
    expect(money(late).total).toBe("99.00");
  });
});

describe("price sheet parsing", () => {
  it("validates tier maps and terms, naming every problem", () => {
    const issues: FieldIssue[] = [];
    expect(parseRates({ "10": "1", "1e1": "2", x: "1", "5": "-1" }, "r", issues)).toBeUndefined();
    expect(issues.map((i) => i.field)).toEqual(["r.5", "r.1e1", "r.x"]);
    const none: FieldIssue[] = [];
    expect(parseRates({ "5": "1" }, "r", none)).toBeUndefined();
    expect(none).toEqual([{ field: "r", reason: 'must have a tier starting at "0"' }]);
    const t: FieldIssue[] = [];
    parseTerms(
      [
        { name: "Monetary Credit", credit: "1.001" },
        { name: "Monetary Commitment", committedAmount: "1", tieredDiscount: { "0": "120" } },
        { name: "Recurring Charge", recurringCharge: "5", extra: 1 },
        { name: "Free Lunch" },
        { name: "Monetary Credit", credit: "1", excludedMeterIds: ["nope"] },
      ],
      "USD",
      resolve,
      t,
    );
    expect(t.map((i) => i.field)).toEqual([
      "terms[0].credit",
      "terms[1].tieredDiscount.0",
      "terms[2].extra",
      "terms[3].name",
      "terms[4].excludedMeterIds[0]",
    ]);
    expect(t[0]!.reason).toMatch(/USD has 2 minor units/);
  });

  it("diffs two versions meter by meter and tier by tier", () => {
    const a = makeVersion("a", NOV.start, {
      [VM]: { rates: { "0": "1.50", "100": "1" } },
      [BLOB]: { rates: { "0": "2" } },
      [IP]: { rates: { "0": "3" } },
    });
    const b = makeVersion(
      "b",
      day(15),
      {
        [VM]: { rates: { "0": "1.5", "200": "0.8" }, included: "10" },
        [IP]: { rates: { "0": "3.0" } },
      },
      [{ name: "Monetary Credit", credit: "5" }],
    );
    const d = diffVersions(a, "USD", b, "USD");
    expect(d.removed.map((m) => m.meterId)).toEqual([BLOB]);
    expect(d.added).toEqual([]);
    expect(d.unchanged).toBe(1);
    expect(d.changed).toHaveLength(1);
    expect(d.changed[0]!.tiers).toEqual([
      { tier: "100", before: "1", after: null },
      { tier: "200", before: null, after: "0.8" },
    ]);
    expect(d.changed[0]!.includedQuantity).toEqual({ before: "0", after: "10" });
    expect(d.terms.changed).toBe(true);
    expect(d.terms.after).toEqual([{ name: "Monetary Credit", credit: "5.00", excludedMeterIds: [] }]);
  });
});
