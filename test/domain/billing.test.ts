import { describe, expect, it } from "vitest";
import {
  type Charge,
  diffCharges,
  invoiceCharges,
  nextPeriod,
  orderLines,
  parseSignedQuantity,
  periodBounds,
  totals,
} from "../../src/domain/billing/invoice.js";
import { Dec } from "../../src/domain/rating/decimal.js";
import { monthOf } from "../../src/domain/time.js";

const Q = 10n ** 10n;
const makeUsage = (over: Omit<Partial<Charge>, "amount"> & { amount: string }): Charge => ({
  charge: "usage",
  subscriptionId: "s1",
  offerId: "o",
  meterId: "m1",
  priceSheetId: "v1",
  tier: "0",
  listUnitPrice: new Dec("0.5"),
  unitPrice: new Dec("0.5"),
  usageStart: 0,
  usageEnd: 86_400_000,
  ...over,
  quantity: over.quantity ?? 10n * Q,
  amount: new Dec(over.amount),
});
const makeCredit = (amount: string): Charge => ({
  charge: "credit",
  subscriptionId: null,
  offerId: "o",
  meterId: null,
  priceSheetId: "v1",
  tier: null,
  quantity: null,
  listUnitPrice: null,
  unitPrice: null,
  amount: new Dec(amount),
  usageStart: null,
  usageEnd: null,
});
const brief = (l: {
  kind: string;
  usagePeriod: string;
  tier: string | null;
  quantity: bigint | null;
  amount: Dec;
}) => [
  l.kind,
  l.usagePeriod,
  l.tier,
  l.quantity === null ? null : String(l.quantity / Q),
  l.amount.toFixed(2),
];

describe("invoice computation", () => {
  it("charges the period's own usage and terms, and leaves out zero terms", () => {
    const lines = invoiceCharges(
      "2026-12",
      [
        makeUsage({ amount: "5.00" }),
        makeCredit("-2.00"),
        makeCredit("0"),
        { ...makeCredit("0"), charge: "recurringCharge" },
      ],
      [],
    );
    expect(lines.map(brief)).toEqual([
      ["usage", "2026-12", "0", "10", "5.00"],
      ["credit", "2026-12", null, null, "-2.00"],
    ]);
  });

  it("splits a correction of an earlier period into adjustments and late usage, which telescope", () => {
    // November was invoiced at v1 for 10 units; v2 (backdated) makes the known 10 units cost 4.00,
    // and 6 more units arrived late, 2 of them past the next tier.
    const invoiced = [makeUsage({ amount: "5.00" }), makeCredit("-2.00")];
    const known = [makeUsage({ amount: "4.00", priceSheetId: "v2" }), makeCredit("-2.00")];
    const now = [
      makeUsage({ amount: "5.60", priceSheetId: "v2", quantity: 14n * Q }),
      makeUsage({ amount: "0.60", priceSheetId: "v2", tier: "14", quantity: 2n * Q }),
      makeCredit("-2.00"),
    ];
    const lines = invoiceCharges(
      "2026-12",
      [],
      [
        {
          usagePeriod: "2026-11",
          invoiced,
          known,
          now,
          lateUsage: new Map([["s1\u0001m1", { start: 1, end: 2 }]]),
        },
      ],
    );
    expect(lines.map(brief)).toEqual([
      ["adjustment", "2026-11", "0", "10", "4.00"],
      ["adjustment", "2026-11", "0", "-10", "-5.00"],
      ["priorPeriodUsage", "2026-11", "0", "4", "1.60"],
      ["priorPeriodUsage", "2026-11", "14", "2", "0.60"],
    ]);
    expect(
      lines.filter((l) => l.kind === "priorPeriodUsage").every((l) => l.usageStart === 1 && l.usageEnd === 2),
    ).toBe(true);
    // Invoiced plus this invoice's corrections is November rated on everything.
    const sum = (cs: readonly { amount: Dec }[]) =>
      cs.reduce((s, c) => s.plus(c.amount), new Dec(0)).toFixed(2);
    expect(sum([...invoiced, ...lines])).toBe(sum(now));
  });

  it("drops keys whose quantity and amount both cancel", () => {
    expect(diffCharges([makeUsage({ amount: "1.00" })], [makeUsage({ amount: "1.00" })])).toEqual([]);
  });

  it("orders lines by subscription, meter, usage period and kind, terms last", () => {
    const at = (c: Charge, kind: "usage" | "priorPeriodUsage" | "credit", usagePeriod: string) => ({
      ...c,
      kind,
      usagePeriod,
    });
    const ordered = orderLines([
      at(makeCredit("-1"), "credit", "2026-12"),
      at(makeUsage({ amount: "1", subscriptionId: "s2" }), "usage", "2026-12"),
      at(makeUsage({ amount: "1" }), "usage", "2026-12"),
      at(makeUsage({ amount: "1" }), "priorPeriodUsage", "2026-11"),
      at(makeUsage({ amount: "1", tier: "included" }), "usage", "2026-12"),
    ]);
    expect(ordered.map((l) => [l.subscriptionId, l.kind, l.usagePeriod, l.tier])).toEqual([
      ["s1", "priorPeriodUsage", "2026-11", "0"],
      ["s1", "usage", "2026-12", "included"],
      ["s1", "usage", "2026-12", "0"],
      ["s2", "usage", "2026-12", "0"],
      [null, "credit", "2026-12", null],
    ]);
  });

  it("rounds the tax once, half-even or half-up", () => {
    const amounts = [new Dec("0.05"), new Dec("0.20")];
    expect(totals(amounts, new Dec("10"), "USD", "half-even").tax.toFixed(2)).toBe("0.02");
    expect(totals(amounts, new Dec("10"), "USD", "half-up").tax.toFixed(2)).toBe("0.03");
    const t = totals([new Dec("100")], new Dec("7.25"), "JPY", "half-even");
    expect([t.subtotal.toFixed(0), t.tax.toFixed(0), t.total.toFixed(0)]).toEqual(["100", "7", "107"]);
    expect(totals(amounts, null, "USD", "half-even").total.toFixed(2)).toBe("0.25");
  });

  it("reads periods and signed quantities", () => {
    expect(periodBounds("2026-12")).toEqual({ start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1) });
    expect(monthOf(Date.UTC(2027, 0, 1) - 1)).toBe("2026-12");
    expect(nextPeriod("2026-12")).toBe("2027-01");
    expect(parseSignedQuantity("-1.5")).toBe(-15n * 10n ** 9n);
  });
});
