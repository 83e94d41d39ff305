import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { meterCatalogue } from "../../src/rating/meters.js";
import { loadVersions } from "../../src/rating/price-sheets.js";
import { ratePeriod } from "../../src/rating/rate.js";
import { DIALECTS, guid, openTestApp, operatorCalls, type TestApp } from "../helpers.js";
import { BLOB_CAPACITY, DISK_BYTES, H, STATIC_IP, VM_BASE } from "../usage-helpers.js";

/**
 * A month of real usage (history-imported, aggregated by tally) rated through `POST /api/v1/rate`
 * and compared to the cent with an independent computation written here in plain bigint
 * arithmetic: a price sheet with tiers and included quantities, a version change on the 16th,
 * offer terms (a credit excluding a meter, a recurring charge), unpriced meters and a reseller's
 * markup.
 */
const DAY = 24 * H;
const NOW = Date.UTC(2026, 11, 10, 12);
const NOV1 = Date.UTC(2026, 10, 1);
const NOV16 = Date.UTC(2026, 10, 16);
const DEC1 = Date.UTC(2026, 11, 1);
const iso = (t: number) => new Date(t).toISOString();

interface Tiers {
  tiers: [start: string, price: string][];
  included: string;
}
const VERSION_A: Record<string, Tiers> = {
  [VM_BASE]: {
    tiers: [
      ["0", "0.0125"],
      ["500", "0.0100"],
    ],
    included: "100",
  },
  [BLOB_CAPACITY]: { tiers: [["0", "0.000213"]], included: "0" },
  [STATIC_IP]: {
    tiers: [
      ["0", "0.0035"],
      ["40", "0.003"],
    ],
    included: "0",
  },
};
const VERSION_B: Record<string, Tiers> = {
  [VM_BASE]: {
    tiers: [
      ["0", "0.015"],
      ["500", "0.011"],
      ["2000", "0.0095"],
    ],
    included: "150",
  },
  [BLOB_CAPACITY]: { tiers: [["0", "0.00025"]], included: "0" },
};
const CREDIT_CENTS = 2500n;
const RECURRING_CENTS = 1250n;

// --- the independent computation: fixed-point bigints, no decimal library ---------------------
const Q = 10n ** 10n; // quantities in 1e-10 units
const P = 10n ** 8n; // prices in 1e-8 units
function fixed(s: string, scale: bigint): bigint {
  const [w, f = ""] = s.split(".");
  const digits = scale.toString().length - 1;
  return BigInt(w!) * scale + BigInt((f + "0".repeat(digits)).slice(0, digits) || "0");
}
/** n / d rounded half to even. */
function halfEven(n: bigint, d: bigint): bigint {
  const q = n / d;
  const r = n % d;
  if (2n * r > d || (2n * r === d && q % 2n === 1n)) return q + 1n;
  return q;
}
/** A 1e-10 fixed-point quantity as exact decimal text without trailing zeros. */
const decimal = (q: bigint) => {
  const f = (q % Q).toString().padStart(10, "0").replace(/0+$/, "");
  return `${q / Q}${f ? `.${f}` : ""}`;
};
const cents = (c: bigint) =>
  `${c < 0n ? "-" : ""}${(c < 0n ? -c : c) / 100n}.${((c < 0n ? -c : c) % 100n).toString().padStart(2, "0")}`;

function vmQ(d: number, h: number) {
  return `${(d * 37 + h * 11) % 23}.${String(125 * ((d + h) % 8)).padStart(3, "0")}`;
}
const blobQ = (d: number, h: number) =>
  `${(d * 131 + h) % 997}.${String((d * 7 + h) % 1000).padStart(3, "0")}`;
const ipQ = (d: number) => String((d % 3) + 1);
const HOURS = [2, 14];

/** Usage per day (day start → meter → quantity in 1e-10 units), as generated below. */
function dailyUsage(from: number, to: number): Map<number, Map<string, bigint>> {
  const out = new Map<number, Map<string, bigint>>();
  for (let t = from; t < to; t += DAY) {
    const d = new Date(t).getUTCDate();
    const m = new Map<string, bigint>();
    for (const h of HOURS) {
      for (const [meter, q] of [
        [VM_BASE, vmQ(d, h)],
        [BLOB_CAPACITY, blobQ(d, h)],
        [STATIC_IP, ipQ(d)],
        [DISK_BYTES, "1.5"],
      ] as const)
        m.set(meter, (m.get(meter) ?? 0n) + fixed(q, Q));
    }
    out.set(t, m);
  }
  return out;
}

interface Expected {
  lines: Map<string, { quantity: bigint; cents: bigint }>;
  unpriced: Map<string, bigint>;
  usageCents: bigint;
  /** What the credit covered. */
  creditCents: bigint;
  totalCents: bigint;
}

function expectedCharges(opts: {
  chargeFrom: number;
  chargeTo: number;
  markupPct: bigint;
  terms: boolean;
}): Expected {
  const position = new Map<string, bigint>();
  const acc = new Map<string, { quantity: bigint; price: bigint }>();
  const unpriced = new Map<string, bigint>();
  for (const [day, meters] of dailyUsage(NOV1, opts.chargeTo)) {
    const version = day >= NOV16 ? "B" : "A";
    const sheet = version === "B" ? VERSION_B : VERSION_A;
    for (const [meter, q] of meters) {
      const p0 = position.get(meter) ?? 0n;
      const p1 = p0 + q;
      position.set(meter, p1);
      if (day < opts.chargeFrom) continue;
      const price = sheet[meter];
      if (!price) {
        unpriced.set(meter, (unpriced.get(meter) ?? 0n) + q);
        continue;
      }
      const inc = fixed(price.included, Q);
      const add = (tier: string, unit: bigint, n: bigint) => {
        if (n <= 0n) return;
        const key = `${meter}|${version}|${tier}`;
        const a = acc.get(key) ?? { quantity: 0n, price: unit };
        a.quantity += n;
        acc.set(key, a);
      };
      add("included", 0n, (p1 < inc ? p1 : inc) - p0);
      price.tiers.forEach(([start, unit], i) => {
        const lo = fixed(start, Q);
        const next = price.tiers[i + 1];
        const hi = next ? fixed(next[0], Q) : p1;
        const a = [p0, inc, lo].reduce((x, y) => (x > y ? x : y));
        const b = p1 < hi ? p1 : hi;
        add(start, fixed(unit, P), b - a);
      });
    }
  }
  const lines = new Map<string, { quantity: bigint; cents: bigint }>();
  let usage = 0n;
  let eligible = 0n;
  for (const [key, a] of acc) {
    // quantity (1e-10) × price (1e-8) × (100 + markup) / 100, in cents: divide by 1e18 × 100 / 100.
    const c = halfEven(a.quantity * a.price * (100n + opts.markupPct), (Q * P * 100n) / 100n);
    lines.set(key, { quantity: a.quantity, cents: c });
    usage += c;
    if (!key.startsWith(STATIC_IP)) eligible += c;
  }
  let total = usage;
  const credit = eligible < CREDIT_CENTS ? eligible : CREDIT_CENTS;
  if (opts.terms) total += halfEven(RECURRING_CENTS * (100n + opts.markupPct), 100n) - credit;
  return { lines, unpriced, usageCents: usage, creditCents: credit, totalCents: total };
}

describe.each(DIALECTS)("charge previews over a month of usage on %s", (dialect) => {
  let t: TestApp;
  const D1 = guid(0x21);
  const D2 = guid(0x22);
  const SA = guid(0x2a);
  const SC = guid(0x2c);
  const SX = guid(0x2f);
  let versionA = "";
  let versionB = "";
  const tokens: Record<string, string> = {};

  const as = (who: string, body: unknown) =>
    t.app.inject({
      method: "POST",
      url: "/api/v1/rate",
      headers: who === "operator" ? t.op : { authorization: `Bearer ${tokens[who]}` },
      payload: body as object,
    });
  const { ok } = operatorCalls(() => t);
  const sheet = (s: Record<string, Tiers>) =>
    Object.entries(s).map(([meterId, p]) => ({
      meterId,
      rates: Object.fromEntries(p.tiers),
      includedQuantity: p.included,
    }));

  beforeAll(async () => {
    t = await openTestApp(dialect, { clock: new ManualClock(NOW) });
    await ok("POST", "/api/v1/directories", { id: D1, displayName: "Contoso" });
    await ok("POST", "/api/v1/directories", { id: D2, displayName: "Fabrikam" });
    await ok("POST", "/api/v1/providers", { id: "reseller", displayName: "Reseller" });
    await ok("POST", "/api/v1/offers", { id: "MS-AZR-0003P", displayName: "Pay-As-You-Go" });
    for (const [id, dir, providerId] of [
      [SA, D1, undefined],
      [SC, D1, "reseller"],
      [SX, D2, undefined],
    ] as const)
      await ok("POST", "/api/v1/subscriptions", {
        id,
        displayName: id,
        directoryId: dir,
        providerId,
        offerId: "MS-AZR-0003P",
      });
    versionA = (
      await ok("POST", "/api/v1/price-sheets", {
        offerId: "MS-AZR-0003P",
        currency: "USD",
        effectiveDate: "2026-10-01",
        meters: sheet(VERSION_A),
        terms: [
          { name: "Monetary Credit", credit: "25", excludedMeterIds: [STATIC_IP] },
          { name: "Recurring Charge", recurringCharge: "12.5" },
        ],
      })
    ).id;
    versionB = (
      await ok("POST", "/api/v1/price-sheets", {
        offerId: "MS-AZR-0003P",
        currency: "USD",
        effectiveDate: "2026-11-16",
        meters: sheet(VERSION_B),
        terms: [{ name: "Monetary Credit", credit: "999" }],
      })
    ).id;
    await ok("POST", "/api/v1/markups", { scope: "/providers/reseller", percent: "20" });

    // Usage from late October to early December, two hours a day, for every subscription.
    const records = [];
    for (const sub of [SA, SC, SX]) {
      for (let t0 = Date.UTC(2026, 9, 28); t0 < Date.UTC(2026, 11, 4); t0 += DAY) {
        const d = new Date(t0).getUTCDate();
        for (const h of HOURS) {
          const start = t0 + h * H;
          for (const [meter, quantity] of [
            [VM_BASE, vmQ(d, h)],
            [BLOB_CAPACITY, blobQ(d, h)],
            [STATIC_IP, ipQ(d)],
            [DISK_BYTES, "1.5"],
          ] as const) {
            records.push({
              id: `${sub}-${meter}-${start}`,
              subscriptionId: sub,
              meterId: meter,
              quantity,
              usageStartTime: iso(start),
              usageEndTime: iso(start + H),
              reportedTime: iso(start + H + 30 * 60_000),
              resourceUri: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
              location: "local",
            });
          }
        }
      }
    }
    await ok("POST", "/api/v1/usage-imports", records);
    await ok("POST", "/api/v1/role-assignments", {
      principalId: "a-owner",
      role: "Owner",
      scope: `/subscriptions/${SA}`,
    });
    await ok("POST", "/api/v1/role-assignments", {
      principalId: "a-reader",
      role: "Reader",
      scope: `/subscriptions/${SA}`,
    });
    await ok("POST", "/api/v1/role-assignments", {
      principalId: "r-admin",
      role: "Reader",
      scope: "/providers/reseller",
    });
    await ok("POST", "/api/v1/role-assignments", {
      principalId: "billing",
      role: "Billing account reader",
      scope: "/billingAccounts/b",
    });
    for (const who of ["a-owner", "a-reader", "r-admin", "billing"])
      tokens[who] = await t.svc.tokens.sign({ subject: who, ttlMs: 3_600_000 });
  });
  afterAll(async () => t.cleanup());

  function compare(period: Record<string, unknown> & { lines: Record<string, string>[] }, exp: Expected) {
    const got = new Map(
      period.lines.map((l) => [
        `${l.meterId}|${l.priceSheetId === versionB ? "B" : "A"}|${l.tier}`,
        { quantity: l.quantity, amount: l.amount },
      ]),
    );
    const want = new Map(
      [...exp.lines].map(([k, v]) => [k, { quantity: decimal(v.quantity), amount: cents(v.cents) }]),
    );
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
    expect(period.usageAmount).toBe(cents(exp.usageCents));
    expect(period.total).toBe(cents(exp.totalCents));
  }

  it("rates a month of a subscription's usage to the cent, across a mid-month version change", async () => {
    const r = await as("operator", {
      subscriptionId: SA,
      from: "2026-11-01T00:00:00Z",
      to: "2026-12-01T00:00:00Z",
    });
    expect(r.statusCode).toBe(200);
    const a = r.json();
    expect(a).toMatchObject({
      offerId: "MS-AZR-0003P",
      currency: "USD",
      subscriptionId: SA,
      markup: null,
      complete: false,
    });
    expect(a.periods).toHaveLength(1);
    const p = a.periods[0];
    expect(p).toMatchObject({
      periodStart: iso(NOV1),
      periodEnd: iso(DEC1),
      termsApplied: true,
      termsPriceSheetId: versionA,
    });
    const exp = expectedCharges({ chargeFrom: NOV1, chargeTo: DEC1, markupPct: 0n, terms: true });
    compare(p, exp);
    expect(a.total).toBe(cents(exp.totalCents));
    // Both versions priced usage, each from its date; graduation carried across the change.
    expect(new Set(p.lines.map((l: { priceSheetId: string }) => l.priceSheetId))).toEqual(
      new Set([versionA, versionB]),
    );
    const vmB = p.lines.filter(
      (l: { meterId: string; priceSheetId: string }) => l.meterId === VM_BASE && l.priceSheetId === versionB,
    );
    expect(vmB[0].usageStart).toBe(iso(NOV16));
    // Unpriced: the disk meter all month, the IP meter once version B (which drops it) is in force.
    expect(
      p.unpriced.map((u: { meterId: string; reason: string; quantity: string }) => [
        u.meterId,
        u.reason,
        u.quantity,
      ]),
    ).toEqual([
      [DISK_BYTES, "MeterNotOnPriceSheet", "45"],
      [DISK_BYTES, "MeterNotOnPriceSheet", "45"],
      [STATIC_IP, "MeterNotOnPriceSheet", String(ipSum(16, 30))],
    ]);
    expect(exp.unpriced.get(DISK_BYTES)).toBe(fixed("90", Q));
    // The month's eligible charges are below the 25.00 credit: it covers them and lapses for the rest.
    expect(exp.creditCents < CREDIT_CENTS).toBe(true);
    expect(
      p.adjustments.map((x: { kind: string; amount: string; unused?: string }) => [
        x.kind,
        x.amount,
        x.unused,
      ]),
    ).toEqual([
      ["recurringCharge", "12.50", undefined],
      ["credit", cents(-exp.creditCents), cents(CREDIT_CENTS - exp.creditCents)],
    ]);
  });

  it("applies the reseller's markup to its tenants' charges", async () => {
    const r = await as("operator", {
      subscriptionId: SC,
      from: "2026-11-01T00:00:00Z",
      to: "2026-12-01T00:00:00Z",
    });
    const a = r.json();
    expect(a.markup).toEqual({ scope: "/providers/reseller", percent: "20" });
    compare(a.periods[0], expectedCharges({ chargeFrom: NOV1, chargeTo: DEC1, markupPct: 20n, terms: true }));
    const vm = a.periods[0].lines.find(
      (l: { meterId: string; tier: string }) => l.meterId === VM_BASE && l.tier === "0",
    );
    expect([vm.listUnitPrice, vm.unitPrice]).toEqual(["0.0125", "0.015"]);
    expect(a.periods[0].adjustments[0]).toMatchObject({ kind: "recurringCharge", amount: "15.00" });
  });

  it("charges a partial window with period-to-date graduation and without the period's terms", async () => {
    const r = await as("operator", {
      subscriptionId: SA,
      from: "2026-11-10T00:00:00Z",
      to: "2026-11-20T00:00:00Z",
    });
    const p = r.json().periods[0];
    expect(p).toMatchObject({
      chargedFrom: iso(Date.UTC(2026, 10, 10)),
      chargedUntil: iso(Date.UTC(2026, 10, 20)),
      termsApplied: false,
    });
    compare(
      p,
      expectedCharges({
        chargeFrom: Date.UTC(2026, 10, 10),
        chargeTo: Date.UTC(2026, 10, 20),
        markupPct: 0n,
        terms: false,
      }),
    );
    expect(p.adjustments).toEqual([]);
    // A window across months is rated period by period.
    const two = (
      await as("operator", { subscriptionId: SA, from: "2026-10-30T00:00:00Z", to: "2026-11-02T00:00:00Z" })
    ).json();
    expect(two.periods.map((x: { periodStart: string }) => x.periodStart)).toEqual([
      iso(Date.UTC(2026, 9, 1)),
      iso(NOV1),
    ]);
    const bad = await as("operator", {
      subscriptionId: SA,
      from: "2026-11-10T05:00:00Z",
      to: "2026-11-20T00:00:00Z",
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details[0].field).toBe("from");
  });

  it("prices hypothetical quantities with the version in force and the period's terms", async () => {
    const body = {
      offerId: "MS-AZR-0003P",
      quantities: [{ meterId: VM_BASE, quantity: 600 }],
      at: "2026-11-20T00:00:00Z",
    };
    const r = await as("operator", body);
    expect(r.statusCode).toBe(200);
    const p = r.json().periods[0];
    expect(
      p.lines.map((l: { tier: string; quantity: string; unitPrice: string; amount: string }) => [
        l.tier,
        l.quantity,
        l.unitPrice,
        l.amount,
      ]),
    ).toEqual([
      ["included", "150", "0", "0.00"],
      ["0", "350", "0.015", "5.25"],
      ["500", "100", "0.011", "1.10"],
    ]);
    expect(p.adjustments.map((x: { kind: string; amount: string }) => [x.kind, x.amount])).toEqual([
      ["recurringCharge", "12.50"],
      ["credit", "-6.35"],
    ]);
    expect(p.total).toBe("12.50");
    expect((await as("operator", { ...body, applyTerms: false })).json().total).toBe("6.35");
    const early = await as("operator", { ...body, at: "2026-09-15T00:00:00Z" });
    expect(early.json()).toMatchObject({ complete: false, total: "0.00" });
    expect(early.json().periods[0].unpriced[0].reason).toBe("NoPriceSheetInForce");
    expect((await as("operator", { ...body, currency: "EUR" })).statusCode).toBe(400);
    expect(
      (await as("operator", { ...body, quantities: [{ meterId: VM_BASE, quantity: "-1" }] })).statusCode,
    ).toBe(400);
    expect((await as("operator", { offerId: "MS-AZR-0003P" })).statusCode).toBe(400);
    // Through a subscription: its offer and its reseller's markup.
    const viaSub = (
      await as("operator", {
        subscriptionId: SC,
        quantities: [{ meterId: VM_BASE, quantity: "600" }],
        at: "2026-11-20T00:00:00Z",
        applyTerms: false,
      })
    ).json();
    expect(viaSub.total).toBe("7.62");
  });

  it("pools several subscriptions' usage in one period for billing, in usage-day then subscription order", async () => {
    const subs = await t.svc.store.db
      .selectFrom("subscriptions")
      .select(["id", "seq"])
      .where("id", "in", [SA, SX])
      .execute();
    const { versions } = await loadVersions(
      t.svc.store.db,
      await meterCatalogue(t.svc.store.db),
      "MS-AZR-0003P",
      "USD",
    );
    const r = await ratePeriod(t.svc, {
      subscriptions: subs,
      currency: "USD",
      period: { start: NOV1, end: DEC1 },
      versions,
      applyTerms: true,
    });
    const vm = r.lines.filter((l) => l.meterId === VM_BASE);
    // SA and SX used the same every day, so the pool holds twice one subscription's VM usage...
    const one = expectedCharges({ chargeFrom: NOV1, chargeTo: DEC1, markupPct: 0n, terms: true });
    const oneVm = [...one.lines]
      .filter(([k]) => k.startsWith(VM_BASE))
      .reduce((s, [, v]) => s + v.quantity, 0n);
    expect(vm.reduce((s, l) => s + l.quantity, 0n)).toBe(2n * oneVm);
    // ...the included 100 is shared day by day, SA before SX, and used up before version B (whose
    // 150 counts from the period's start too) comes into force...
    expect(vm.filter((l) => l.tier === "included").map((l) => [l.subscriptionId, l.priceSheetId])).toEqual([
      [SA, versionA],
      [SX, versionA],
    ]);
    const firstDay = Number(fixed(vmQ(1, 2), Q) + fixed(vmQ(1, 14), Q));
    expect(
      Number(vm.find((l) => l.tier === "included" && l.subscriptionId === SX)!.quantity),
    ).toBeLessThanOrEqual(100e10 - firstDay);
    // One credit and one recurring charge for the pool, not one per subscription.
    expect(r.adjustments.map((a) => a.kind)).toEqual(["recurringCharge", "credit"]);
  });

  it("lets a tenant preview its own subscription's charges, and nobody else's", async () => {
    const own = { subscriptionId: SA, from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z" };
    expect((await as("a-owner", own)).statusCode).toBe(200);
    expect((await as("a-reader", own)).statusCode).toBe(200);
    expect((await as("a-owner", { ...own, subscriptionId: SX })).statusCode).toBe(404);
    expect((await as("billing", own)).statusCode).toBe(404);
    expect((await as("r-admin", { ...own, subscriptionId: SC })).statusCode).toBe(200);
    expect((await as("r-admin", own)).statusCode).toBe(404);
    const r = await as("a-owner", { ...own, offerId: "default" });
    expect(r.statusCode).toBe(400);
  });
});

/** Total static IP quantity of days [from, to] of November (two hours a day). */
function ipSum(from: number, to: number): number {
  let s = 0;
  for (let d = from; d <= to; d++) s += 2 * ((d % 3) + 1);
  return s;
}
