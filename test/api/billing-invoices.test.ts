import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closePeriod } from "../../src/billing/invoices.js";
import { findAccount } from "../../src/billing/repository.js";
import { ManualClock } from "../../src/clock.js";
import { DIALECTS, guid, openTestApp, operatorCalls, type TestApp } from "../helpers.js";
import { BLOB_CAPACITY, DISK_BYTES, H, VM_BASE } from "../usage-helpers.js";

/**
 * Two months of usage with late arrivals across the period boundary, closed into invoices whose
 * every line and total is recomputed here independently, in plain bigint arithmetic: tiers and an
 * included quantity, a simple price, an unpriced meter, a credit, a recurring charge and a tax
 * rate. The next period's invoice carries the late usage as prior-period lines with their own
 * usage dates; a backdated price gives adjustment lines on the invoice after.
 */
const DAY = 24 * H;
const NOV1 = Date.UTC(2026, 10, 1);
const DEC1 = Date.UTC(2026, 11, 1);
const DEC15 = Date.UTC(2026, 11, 15);
const JAN1 = Date.UTC(2027, 0, 1);
const iso = (t: number) => new Date(t).toISOString();

const Q = 10n ** 10n;
const P = 10n ** 8n;
function fixed(s: string, scale: bigint): bigint {
  const [w, f = ""] = s.split(".");
  const digits = scale.toString().length - 1;
  return BigInt(w!) * scale + BigInt((f + "0".repeat(digits)).slice(0, digits) || "0");
}
function halfEven(n: bigint, d: bigint): bigint {
  const neg = n < 0n;
  const a = neg ? -n : n;
  let q = a / d;
  const r = a % d;
  if (2n * r > d || (2n * r === d && q % 2n === 1n)) q += 1n;
  return neg ? -q : q;
}
const decimal = (q: bigint) => {
  const neg = q < 0n;
  const a = neg ? -q : q;
  const f = (a % Q).toString().padStart(10, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${a / Q}${f ? `.${f}` : ""}`;
};
const cents = (c: bigint) => {
  const a = c < 0n ? -c : c;
  return `${c < 0n ? "-" : ""}${a / 100n}.${(a % 100n).toString().padStart(2, "0")}`;
};

type Sheet = Record<string, { tiers: [string, string][]; included: string }>;
const V1: Sheet = {
  [VM_BASE]: {
    tiers: [
      ["0", "0.0125"],
      ["500", "0.01"],
    ],
    included: "100",
  },
  [BLOB_CAPACITY]: { tiers: [["0", "0.000213"]], included: "0" },
};
/** Published in January, backdated to mid-December. */
const V2: Sheet = {
  [VM_BASE]: {
    tiers: [
      ["0", "0.011"],
      ["500", "0.009"],
    ],
    included: "100",
  },
  [BLOB_CAPACITY]: { tiers: [["0", "0.0002"]], included: "0" },
};
const CREDIT = 2500n; // cents
const RECURRING = 1250n;
const TAX = 19n;

interface Use {
  sub: string;
  meter: string;
  day: number;
  q: bigint;
  reported: number;
}

/** Lines of one usage period rated independently: key `sub|meter|sheet|tier` → quantity, cents. */
function rateIndependently(usage: readonly Use[], sheets: (day: number) => { id: string; sheet: Sheet }) {
  const byDay = new Map<string, bigint>();
  for (const u of usage) {
    const k = `${u.day}|${u.sub}|${u.meter}`;
    byDay.set(k, (byDay.get(k) ?? 0n) + u.q);
  }
  const ordered = [...byDay].sort(([a], [b]) => {
    const [d1, s1] = a.split("|");
    const [d2, s2] = b.split("|");
    return Number(d1) - Number(d2) || (s1! < s2! ? -1 : s1! > s2! ? 1 : 0);
  });
  const position = new Map<string, bigint>();
  const acc = new Map<string, { quantity: bigint; price: bigint }>();
  for (const [k, q] of ordered) {
    const [d, sub, meter] = k.split("|") as [string, string, string];
    const p0 = position.get(meter) ?? 0n;
    const p1 = p0 + q;
    position.set(meter, p1);
    const { id, sheet } = sheets(Number(d));
    const price = sheet[meter];
    if (!price) continue;
    const inc = fixed(price.included, Q);
    const add = (tier: string, unit: bigint, n: bigint) => {
      if (n <= 0n) return;
      const key = `${sub}|${meter}|${id}|${tier}`;
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
  const lines = new Map<string, { quantity: bigint; cents: bigint }>();
  for (const [k, a] of acc)
    lines.set(k, { quantity: a.quantity, cents: halfEven(a.quantity * a.price, (Q * P) / 100n) });
  return lines;
}

const usageCents = (lines: Map<string, { cents: bigint }>) =>
  [...lines.values()].reduce((s, l) => s + l.cents, 0n);

function diff(
  a: Map<string, { quantity: bigint; cents: bigint }>,
  b: Map<string, { quantity: bigint; cents: bigint }>,
) {
  const out = new Map<string, { quantity: bigint; cents: bigint }>();
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k) ?? { quantity: 0n, cents: 0n };
    const y = b.get(k) ?? { quantity: 0n, cents: 0n };
    if (x.quantity !== y.quantity || x.cents !== y.cents)
      out.set(k, { quantity: x.quantity - y.quantity, cents: x.cents - y.cents });
  }
  return out;
}

describe.each(DIALECTS)("billing periods closed into invoices on %s", (dialect) => {
  let t: TestApp;
  const D1 = guid(0x71);
  const D2 = guid(0x72);
  const SA = guid(0x7a);
  const SB = guid(0x7b);
  const SC = guid(0x7c);
  const SX = guid(0x7f);
  let v1 = "";
  let v2 = "";
  const usage: Use[] = [];
  const clock = () => t.clock as ManualClock;

  const { req, ok } = operatorCalls(() => t);
  const sheetBody = (s: Sheet) =>
    Object.entries(s).map(([meterId, p]) => ({
      meterId,
      rates: Object.fromEntries(p.tiers),
      includedQuantity: p.included,
    }));

  beforeAll(async () => {
    // The operator's token is signed at the start, the history imported from a later vantage point.
    t = await openTestApp(dialect, {
      clock: new ManualClock(Date.UTC(2026, 9, 1)),
      env: { TALLY_TOKEN_MAX_TTL: "400d" },
    });
    clock().set(Date.UTC(2027, 1, 5, 12));
    await ok("POST", "/api/v1/directories", { id: D1, displayName: "Contoso" });
    await ok("POST", "/api/v1/directories", { id: D2, displayName: "Fabrikam" });
    await ok("POST", "/api/v1/providers", { id: "reseller", displayName: "Reseller" });
    await ok("POST", "/api/v1/offers", { id: "PAYG", displayName: "Pay-As-You-Go" });
    for (const [id, dir, providerId] of [
      [SA, D1, undefined],
      [SB, D1, undefined],
      [SC, D2, "reseller"],
      [SX, D2, undefined],
    ] as const)
      await ok("POST", "/api/v1/subscriptions", {
        id,
        displayName: `sub ${id.slice(-2)}`,
        directoryId: dir,
        providerId,
        offerId: "PAYG",
      });
    v1 = (
      await ok("POST", "/api/v1/price-sheets", {
        offerId: "PAYG",
        currency: "USD",
        effectiveDate: "2026-10-01",
        meters: sheetBody(V1),
        terms: [
          { name: "Monetary Credit", credit: "25" },
          { name: "Recurring Charge", recurringCharge: "12.5" },
        ],
      })
    ).id;

    // November and December, two records a day per subscription and meter, reported half an hour
    // after each hour; a few November hours arrive late, in December.
    const records: Record<string, unknown>[] = [];
    const push = (sub: string, meter: string, start: number, quantity: string, reported: number) => {
      records.push({
        id: `${sub}-${meter}-${start}`,
        subscriptionId: sub,
        meterId: meter,
        quantity,
        usageStartTime: iso(start),
        usageEndTime: iso(start + H),
        reportedTime: iso(reported),
        resourceUri: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
        location: "local",
      });
      usage.push({ sub, meter, day: start - (start % DAY), q: fixed(quantity, Q), reported });
    };
    for (const sub of [SA, SB, SC])
      for (let day = NOV1; day < Date.UTC(2026, 11, 21); day += DAY) {
        const d = new Date(day).getUTCDate();
        for (const h of [3, 15]) {
          const start = day + h * H;
          const late = day >= Date.UTC(2026, 10, 28) && day < DEC1 && h === 15 && sub !== SC;
          const reported = late ? DEC1 + (sub === SA ? 5 : 30) * H : start + H + 30 * 60_000;
          push(sub, VM_BASE, start, `${((d * 7 + h) % 13) + 14}.25`, reported);
          push(sub, BLOB_CAPACITY, start, `${((d * 131 + h) % 97) + 500}.125`, reported);
          push(sub, DISK_BYTES, start, "1.5", reported);
        }
      }
    await ok("POST", "/api/v1/usage-imports", records);

    await ok("POST", "/api/v1/billing-accounts", {
      id: "contoso",
      kind: "customer",
      displayName: "Contoso Ltd",
      currency: "USD",
      taxRate: 19,
      directoryId: D1,
      firstPeriod: "2026-11",
      address: { line1: "1 Main St", city: "Springfield", country: "US" },
    });
    await ok("POST", "/api/v1/billing-accounts", {
      id: "resel",
      kind: "reseller",
      displayName: "Reseller",
      currency: "USD",
      providerId: "reseller",
      firstPeriod: "2026-11",
    });
  });
  afterAll(async () => t.cleanup());

  const v1Only = () => ({ id: v1, sheet: V1 });
  const contosoUse = (from: number, to: number, reportedBefore: number) =>
    usage.filter(
      (u) => (u.sub === SA || u.sub === SB) && u.day >= from && u.day < to && u.reported < reportedBefore,
    );

  function checkLines(
    lines: Record<string, string | null>[],
    kind: string,
    want: Map<string, { quantity: bigint; cents: bigint }>,
    sheetName: (id: string) => string,
  ) {
    const got = Object.fromEntries(
      lines
        .filter((l) => l.kind === kind)
        .map((l) => [
          `${l.subscriptionId}|${l.meterId}|${sheetName(l.priceSheetId!)}|${l.tier}`,
          { quantity: l.quantity, amount: l.amount },
        ]),
    );
    const expected = Object.fromEntries(
      [...want].map(([k, v]) => {
        const [s, m, sheet, tier] = k.split("|");
        return [
          `${s}|${m}|${sheetName(sheet!)}|${tier}`,
          { quantity: decimal(v.quantity), amount: cents(v.cents) },
        ];
      }),
    );
    expect(got).toEqual(expected);
  }

  let novId = "";
  let novBody: Record<string, unknown> = {};

  it("lists the periods and refuses to close one before its grace has passed", async () => {
    clock().set(Date.UTC(2026, 11, 1, 12));
    const periods = await ok("GET", "/api/v1/billing-accounts/contoso/periods");
    expect(periods.items.map((p: { period: string; status: string }) => [p.period, p.status])).toEqual([
      ["2026-12", "open"],
      ["2026-11", "open"],
    ]);
    const r = await req("POST", "/api/v1/billing-accounts/contoso/periods/2026-11/close");
    expect(r.statusCode).toBe(409);
    expect(r.json().error.message).toContain("late usage's grace");
    // December's estimate during November's grace: November's late usage, nothing of what
    // November's own invoice will charge.
    const e = await ok("GET", "/api/v1/billing-accounts/contoso/estimate");
    const kinds = new Set(e.lines.map((l: { kind: string }) => l.kind));
    expect(kinds.has("priorPeriodUsage")).toBe(true);
    expect(kinds.has("adjustment")).toBe(false);
  });

  it("closes November into a draft whose every line and total is recomputed to the cent", async () => {
    clock().set(Date.UTC(2026, 11, 5, 12));
    const periods = await ok("GET", "/api/v1/billing-accounts/contoso/periods");
    expect(periods.items[1]).toMatchObject({ period: "2026-11", status: "closable", invoiceId: null });
    const r = await req("POST", "/api/v1/billing-accounts/contoso/periods/2026-11/close");
    expect(r.statusCode).toBe(201);
    const inv = r.json();
    novId = inv.id;
    novBody = inv;
    const want = rateIndependently(contosoUse(NOV1, DEC1, DEC1), v1Only);
    checkLines(inv.lines, "usage", want, (id) => (id === v1 ? "V1" : id));
    const usageTotal = usageCents(want);
    expect(usageTotal).toBeGreaterThan(CREDIT);
    const terms = inv.lines.filter((l: { subscriptionId: string | null }) => l.subscriptionId === null);
    expect(terms.map((l: { kind: string; amount: string }) => [l.kind, l.amount])).toEqual([
      ["recurringCharge", cents(RECURRING)],
      ["credit", cents(-CREDIT)],
    ]);
    const subtotal = usageTotal + RECURRING - CREDIT;
    const tax = halfEven(subtotal * TAX, 100n);
    expect(inv).toMatchObject({
      billingAccountId: "contoso",
      period: "2026-11",
      periodStart: "2026-11-01T00:00:00.000Z",
      periodEnd: "2026-12-01T00:00:00.000Z",
      status: "draft",
      number: null,
      currency: "USD",
      taxRate: "19",
      subtotal: cents(subtotal),
      tax: cents(tax),
      total: cents(subtotal + tax),
      complete: false,
    });
    // The lines add up, and are numbered in the invoice's order.
    expect(inv.lines.map((l: { lineNo: number }) => l.lineNo)).toEqual(
      inv.lines.map((_: unknown, i: number) => i + 1),
    );
    expect(
      inv.unpriced.map((u: { subscriptionId: string; meterId: string; reason: string }) => [
        u.subscriptionId,
        u.reason,
      ]),
    ).toEqual([
      [SA, "MeterNotOnPriceSheet"],
      [SB, "MeterNotOnPriceSheet"],
    ]);
    expect(inv.lines[0]).toMatchObject({
      subscriptionName: "sub 7a",
      meterName: expect.any(String),
      unit: expect.any(String),
    });
  });

  it("answers a second close (and concurrent ones) with the same invoice", async () => {
    const again = await req("POST", "/api/v1/billing-accounts/contoso/periods/2026-11/close");
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(novBody);
    const resel = await Promise.all(
      [1, 2, 3].map(() => req("POST", "/api/v1/billing-accounts/resel/periods/2026-11/close")),
    );
    expect(resel.map((r) => r.statusCode).sort()).toEqual([200, 200, 201]);
    expect(new Set(resel.map((r) => r.json().id)).size).toBe(1);
    const rows = await t.svc.store.db
      .selectFrom("invoices")
      .select("id")
      .where("billing_account_id", "=", "resel")
      .execute();
    expect(rows).toHaveLength(1);
    // The reseller is billed for its tenant SC, the operator's own tenant SX by nobody: listed.
    expect(new Set(resel[0]!.json().lines.map((l: { subscriptionId: string }) => l.subscriptionId))).toEqual(
      new Set([SC, null]),
    );
    const unbilled = await ok("GET", "/api/v1/billing/unbilled-subscriptions");
    expect(unbilled.items.map((s: { id: string }) => s.id)).toContain(SX);
    expect(unbilled.items.map((s: { id: string }) => s.id)).not.toContain(SA);
  });

  it("leaves nothing after a crash mid-close, and the retry gives the same invoice", async () => {
    await ok("DELETE", `/api/v1/billing-accounts/contoso/invoices/${novId}`);
    const account = (await findAccount(t.svc.store.db, "contoso"))!;
    await expect(
      closePeriod(t.svc, { principalId: "test", requestId: "crash" }, account, "2026-11", {
        beforeCommit: async () => {
          throw new Error("killed");
        },
      }),
    ).rejects.toThrow("killed");
    const left = await t.svc.store.db
      .selectFrom("invoices")
      .select("id")
      .where("billing_account_id", "=", "contoso")
      .execute();
    expect(left).toEqual([]);
    const orphans = await t.svc.store.db
      .selectFrom("invoice_lines")
      .select("invoice_id")
      .where((eb) =>
        eb.not(
          eb.exists(
            eb.selectFrom("invoices").select("id").whereRef("invoices.id", "=", "invoice_lines.invoice_id"),
          ),
        ),
      )
      .execute();
    expect(orphans).toEqual([]);
    const r = await req("POST", "/api/v1/billing-accounts/contoso/periods/2026-11/close");
    expect(r.statusCode).toBe(201);
    const { id, createdAt, ...rest } = r.json();
    const { id: _i, createdAt: _c, ...before } = novBody;
    expect(rest).toEqual(before);
    novId = id;
  });

  it("estimates December with the same code as the close", async () => {
    clock().set(Date.UTC(2026, 11, 25, 12));
    const e = await ok("GET", "/api/v1/billing-accounts/contoso/estimate");
    expect(e).toMatchObject({
      billingAccountId: "contoso",
      period: "2026-12",
      estimate: true,
      currency: "USD",
    });
    expect(e.note).toContain("may differ");
    expect(e.lines.some((l: { kind: string }) => l.kind === "priorPeriodUsage")).toBe(true);
    const periods = await ok("GET", "/api/v1/billing-accounts/contoso/periods");
    expect(periods.items[0]).toMatchObject({ period: "2026-12", status: "open" });
    expect(periods.items[1]).toMatchObject({ period: "2026-11", status: "draft", invoiceId: novId });
  });

  let decBody: Record<string, unknown> & { lines: Record<string, string | null>[] } = { lines: [] };

  it("closes December with the late November usage as prior-period lines carrying their own dates", async () => {
    clock().set(Date.UTC(2027, 0, 5, 12));
    const closeDec = await req("POST", "/api/v1/billing-accounts/contoso/periods/2026-12/close");
    expect(closeDec.statusCode).toBe(201);
    const inv = closeDec.json();
    decBody = inv;
    const current = rateIndependently(contosoUse(DEC1, JAN1, JAN1), v1Only);
    checkLines(inv.lines, "usage", current, (id) => (id === v1 ? "V1" : id));
    const late = diff(
      rateIndependently(contosoUse(NOV1, DEC1, JAN1), v1Only),
      rateIndependently(contosoUse(NOV1, DEC1, DEC1), v1Only),
    );
    expect(late.size).toBeGreaterThan(0);
    checkLines(inv.lines, "priorPeriodUsage", late, (id) => (id === v1 ? "V1" : id));
    const prior = inv.lines.filter((l: { kind: string }) => l.kind === "priorPeriodUsage");
    for (const l of prior) {
      expect(l.usagePeriod).toBe("2026-11");
      expect(l.usageStart >= "2026-11-28").toBe(true);
      expect(l.usageEnd <= "2026-12-01T00:00:00.000Z").toBe(true);
    }
    const subtotal = usageCents(current) + usageCents(late) + RECURRING - CREDIT;
    const tax = halfEven(subtotal * TAX, 100n);
    expect(inv).toMatchObject({ subtotal: cents(subtotal), tax: cents(tax), total: cents(subtotal + tax) });
    // Telescoping: what November is charged over both invoices is November rated on all its usage.
    const charged = [...(novBody.lines as { usagePeriod: string; amount: string }[]), ...prior]
      .filter((l) => l.usagePeriod === "2026-11")
      .reduce(
        (s, l) => s + fixed(l.amount.replace("-", ""), 100n) * (l.amount.startsWith("-") ? -1n : 1n),
        0n,
      );
    expect(charged).toBe(
      usageCents(rateIndependently(contosoUse(NOV1, DEC1, JAN1), v1Only)) + RECURRING - CREDIT,
    );
  });

  it("finalizes with a gap-free number, and nothing changes a finalized invoice afterwards", async () => {
    const f = await ok("POST", `/api/v1/billing-accounts/contoso/invoices/${novId}/finalize`);
    expect(f).toMatchObject({ status: "finalized", number: "INV-000001", finalizedAt: expect.any(String) });
    expect(await ok("POST", `/api/v1/billing-accounts/contoso/invoices/${novId}/finalize`)).toEqual(f);
    expect((await req("DELETE", `/api/v1/billing-accounts/contoso/invoices/${novId}`)).statusCode).toBe(409);
    await expect(
      t.svc.store.db.updateTable("invoices").set({ total: "0.00" }).where("id", "=", novId).execute(),
    ).rejects.toThrow(/immutable/);
    await expect(
      t.svc.store.db
        .updateTable("invoice_lines")
        .set({ amount: "0.00" })
        .where("invoice_id", "=", novId)
        .execute(),
    ).rejects.toThrow(/immutable/);
    await expect(
      t.svc.store.db.deleteFrom("invoice_lines").where("invoice_id", "=", novId).execute(),
    ).rejects.toThrow(/immutable/);
    const [line] = await t.svc.store.db
      .selectFrom("invoice_lines")
      .selectAll()
      .where("invoice_id", "=", novId)
      .execute();
    await expect(
      t.svc.store.db
        .insertInto("invoice_lines")
        .values({ ...line!, line_no: 9999 })
        .execute(),
    ).rejects.toThrow(/immutable/);
    expect(await ok("GET", `/api/v1/billing-accounts/contoso/invoices/${novId}`)).toEqual(f);
    // December's draft, computed against November, cannot go before it is the latest one… it is.
    const dec = await ok("POST", `/api/v1/billing-accounts/contoso/invoices/${decBody.id}/finalize`);
    expect(dec.number).toBe("INV-000002");
    const audit = await t.svc.store.db
      .selectFrom("audit_log")
      .select(["action", "target", "details"])
      .where("target", "like", "/billingAccounts/contoso/invoices/%")
      .execute();
    const ops = audit.map((a) => JSON.parse(a.details!).op);
    expect(ops).toEqual(expect.arrayContaining(["close", "discard", "finalize"]));
  });

  it("puts a backdated price on the next invoice as adjustment lines", async () => {
    v2 = (
      await ok("POST", "/api/v1/price-sheets", {
        offerId: "PAYG",
        currency: "USD",
        effectiveDate: "2026-12-15",
        meters: sheetBody(V2),
        terms: [
          { name: "Monetary Credit", credit: "25" },
          { name: "Recurring Charge", recurringCharge: "12.5" },
        ],
      })
    ).id;
    clock().set(Date.UTC(2027, 1, 5, 12));
    const r = await req("POST", "/api/v1/billing-accounts/contoso/periods/2027-01/close");
    expect(r.statusCode).toBe(201);
    const inv = r.json();
    const sheets = (day: number) => (day >= DEC15 ? { id: v2, sheet: V2 } : { id: v1, sheet: V1 });
    const adj = diff(
      rateIndependently(contosoUse(DEC1, JAN1, JAN1), sheets),
      rateIndependently(contosoUse(DEC1, JAN1, JAN1), v1Only),
    );
    expect(adj.size).toBeGreaterThan(0);
    checkLines(inv.lines, "adjustment", adj, (id) => (id === v1 ? "V1" : id === v2 ? "V2" : id));
    for (const l of inv.lines.filter((x: { kind: string }) => x.kind === "adjustment"))
      expect(l.usagePeriod).toBe("2026-12");
    // January had no usage: its recurring charge, and the adjustments.
    const subtotal = usageCents(adj) + RECURRING;
    expect(inv.subtotal).toBe(cents(subtotal));
    expect(inv.tax).toBe(cents(halfEven(subtotal * TAX, 100n)));
  });

  it("numbers finalized invoices gap-free per issuer under concurrent finalizes", async () => {
    clock().set(Date.UTC(2027, 1, 5, 12));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const dir = guid(0x900 + i);
      await ok("POST", "/api/v1/directories", { id: dir, displayName: `Tenant ${i}` });
      await ok("POST", "/api/v1/billing-accounts", {
        id: `issuer-${i}`,
        kind: "customer",
        displayName: `Tenant ${i}`,
        currency: "EUR",
        issuerName: "Other Issuer GmbH",
        directoryId: dir,
        firstPeriod: "2027-01",
      });
      ids.push((await ok("POST", `/api/v1/billing-accounts/issuer-${i}/periods/2027-01/close`)).id);
    }
    const done = await Promise.all(
      ids.map((id, i) => ok("POST", `/api/v1/billing-accounts/issuer-${i}/invoices/${id}/finalize`)),
    );
    expect(done.map((d) => d.number).sort()).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => `INV-${String(n).padStart(6, "0")}`),
    );
    // Another issuer's sequence is its own.
    const counters = await t.svc.store.db
      .selectFrom("invoice_counters")
      .selectAll()
      .orderBy("issuer_name")
      .execute();
    expect(counters.map((c) => [c.issuer_name, Number(c.last_number)])).toEqual([
      ["Other Issuer GmbH", 6],
      ["tally", 2],
    ]);
  });
});
