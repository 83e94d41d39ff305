import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHARGES_COLUMNS } from "../../src/billing/downloads/charges.js";
import { INVOICE_CSV_COLUMNS } from "../../src/billing/downloads/invoice-csv.js";
import { dailyUsageRows } from "../../src/billing/downloads/usage-rows.js";
import { ManualClock } from "../../src/clock.js";
import type { EstimateView, InvoiceLine } from "../../src/domain/billing/types.js";
import { closeHours } from "../../src/usage/rollup.js";
import {
  type DownloadsApp,
  makeInvoice,
  makeLine,
  money,
  openDownloadsApp,
  pdfText,
  readCsv,
  v2Sections,
} from "../billing-download-helpers.js";
import { DIALECTS } from "../helpers.js";
import { BLOB_CAPACITY, H, ingest, makeWorld, record, VM_BASE, type World } from "../usage-helpers.js";

const D = 86_400_000;
const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);
const iso = (t: number) => new Date(t).toISOString();

/** Reference §8.1 and §8.2 as the reference spells them, typed here rather than imported. */
const REF_STATEMENT = [
  "Billing Period",
  "Meter Category",
  "Meter Sub-Category",
  "Meter Name",
  "Meter Region",
  "SKU",
  "Unit",
  "Consumed Quantity",
  "Included Quantity",
  "Overage Quantity",
  "Within Commitment",
  "Currency",
  "Overage",
  "Commitment Rate",
  "Rate",
  "Value",
];
const REF_DAILY = [
  "Usage Date",
  "Meter Category",
  "Meter ID",
  "Meter Sub-Category",
  "Meter Name",
  "Meter Region",
  "Unit",
  "Consumed Quantity",
  "Resource Location",
  "Consumed Service",
  "Resource Group",
  "Instance ID",
  "Tags",
  "Additional Info",
  "Service Info 1",
  "Service Info 2",
];
/** Every column name of reference §8.2. */
const REF_CHARGES = new Set(
  `AccountName AccountOwnerId AdditionalInfo BillingAccountId BillingAccountName BillingCurrency BillingPeriod
  BillingPeriodEndDate BillingPeriodStartDate BillingProfileId BillingProfileName ChargeType ConsumedService CostCenter
  Cost CostInBillingCurrency CostInPricingCurrency Currency Date EffectivePrice ExchangeRateDate
  ExchangeRatePricingToBilling Frequency InvoiceId InvoiceSection InvoiceSectionId InvoiceSectionName
  IsAzureCreditEligible Location MeterCategory MeterId MeterName MeterRegion MeterSubCategory OfferId PartNumber
  PlanName PreviousInvoiceId PricingCurrency Product ProductId ProductOrderId ProductOrderName PublisherName
  PublisherType Quantity ReservationId ReservationName ResourceGroup ResourceId ResourceLocation ResourceName
  ResourceType ServiceFamily ServiceInfo1 ServiceInfo2 ServicePeriodEndDate ServicePeriodStartDate SubscriptionId
  SubscriptionName Tags Term UnitOfMeasure UnitPrice`.split(/\s+/),
);

/** A deterministic pseudo-random generator (mulberry32). */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sent {
  sub: string;
  meter: string;
  quantity: string;
  start: number;
  reported: number;
  vm: string;
  tags?: Record<string, string>;
  additionalInfo?: Record<string, unknown>;
}

describe.each(DIALECTS)("billing downloads on %s", (dialect) => {
  let t: DownloadsApp;
  let w: World;
  const sent: Sent[] = [];

  /** What the files must show, computed from the records sent, not from tally's tables. */
  function expectedDaily(subs: string[], from: number, to: number) {
    const rows = new Map<string, { sub: string; date: string; meter: string; uri: string; q: Decimal }>();
    for (const s of sent) {
      if (!subs.includes(s.sub) || s.reported < from || s.reported >= to) continue;
      const uri = `/subscriptions/${s.sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${s.vm}`;
      const date = iso(s.start).slice(0, 10);
      const key = `${s.sub}|${date}|${s.meter}|${uri}`;
      const r = rows.get(key) ?? { sub: s.sub, date, meter: s.meter, uri, q: new Decimal(0) };
      r.q = r.q.plus(s.quantity);
      rows.set(key, r);
    }
    return rows;
  }

  /** Σ quantity per subscription × meter × usage month of the records reported in [from, to). */
  function expectedGroups(subs: string[], from: number, to: number) {
    const out = new Map<string, Decimal>();
    for (const r of expectedDaily(subs, from, to).values()) {
      const key = `${r.sub}|${r.meter.toUpperCase()}|${r.date.slice(0, 7)}`;
      out.set(key, (out.get(key) ?? new Decimal(0)).plus(r.q));
    }
    return out;
  }

  const get = (url: string, headers: Record<string, string> = t.op) =>
    t.app.inject({ method: "GET", url, headers });

  beforeAll(async () => {
    const clock = new ManualClock(Date.UTC(2026, 9, 20));
    t = await openDownloadsApp(dialect, clock);
    w = await makeWorld(t);
    const rand = rng(7);
    const send = async (batch: Sent[], at: number) => {
      clock.set(at);
      const r = await ingest(
        t,
        w.apiKey,
        batch.map((s, i) =>
          record({
            id: `r-${at}-${i}`,
            sub: s.sub,
            meter: s.meter,
            quantity: s.quantity,
            start: s.start,
            vm: s.vm,
            ...(s.tags ? { tags: s.tags } : {}),
            ...(s.additionalInfo ? { additionalInfo: s.additionalInfo } : {}),
          }),
        ),
      );
      expect(r.statusCode, r.body).toBeLessThan(300);
      sent.push(...batch);
    };
    const vmInfo = (vm: string) =>
      vm === "vm1"
        ? { tags: { env: "prod", owner: 'Zoë, "ops"' } }
        : { additionalInfo: { ImageType: "Windows" } };
    // October usage reported in October: on no November file.
    await send(
      [
        {
          sub: w.subA,
          meter: VM_BASE,
          quantity: "3",
          start: NOV - 2 * D + 10 * H,
          reported: 0,
          vm: "vm1",
          ...vmInfo("vm1"),
        },
      ].map((s) => ({ ...s, reported: NOV - 2 * D + 12 * H })),
      NOV - 2 * D + 12 * H,
    );
    // Late: October 31 usage reported on November 1, on the November file with its own date.
    await send(
      [
        {
          sub: w.subA,
          meter: VM_BASE,
          quantity: "2.5",
          start: NOV - 2 * H,
          reported: NOV + H,
          vm: "vm1",
          ...vmInfo("vm1"),
        },
        {
          sub: w.subB,
          meter: BLOB_CAPACITY,
          quantity: "0.75",
          start: NOV - 3 * H,
          reported: NOV + H,
          vm: "vm2",
          ...vmInfo("vm2"),
        },
      ],
      NOV + H,
    );
    for (let d = 0; d < 30; d++) {
      const day = NOV + d * D;
      const batch: Sent[] = [];
      for (const sub of [w.subA, w.subB, w.subC])
        for (const vm of ["vm1", "vm2"])
          for (const meter of [VM_BASE, BLOB_CAPACITY])
            for (const h of [0, 6, 12, 18]) {
              const quantity =
                meter === VM_BASE ? "1" : (Math.floor(rand() * 1e10) / 1e10).toFixed(10).replace(/0+$/, "");
              batch.push({
                sub,
                meter,
                quantity,
                start: day + h * H,
                reported: day + 23 * H + 30 * 60_000,
                vm,
                ...vmInfo(vm),
              });
            }
      // Usage of the day before reported today: its daily rows sum two reported days.
      if (d > 0)
        for (const sub of [w.subA, w.subB])
          batch.push({
            sub,
            meter: BLOB_CAPACITY,
            quantity: "0.0000000003",
            start: day - D + 20 * H,
            reported: day + 23 * H + 30 * 60_000,
            vm: "vm2",
            ...vmInfo("vm2"),
          });
      await send(batch, day + 23 * H + 30 * 60_000);
    }
    // November 30 usage reported on December 1: on December's estimate, not on November's invoice.
    await send(
      [
        {
          sub: w.subA,
          meter: VM_BASE,
          quantity: "1",
          start: DEC - H,
          reported: DEC + 30 * 60_000,
          vm: "vm1",
          ...vmInfo("vm1"),
        },
      ],
      DEC + 30 * 60_000,
    );
    clock.set(DEC + D + H);
    await closeHours(t.svc);
    // Tokens have a maximum age: sign the operator's again on the new date.
    const token = await t.svc.tokens.sign({ subject: t.svc.system.operatorPrincipalId, ttlMs: 86_400_000 });
    t.op.authorization = `Bearer ${token}`;

    // The documents: lines per subscription × meter × usage period with amounts from made-up prices.
    const groups = expectedGroups([w.subA, w.subB], NOV, DEC);
    const lines: InvoiceLine[] = [];
    const meterNames: Record<string, { name: string; category: string; unit: string }> = {};
    for (const m of await t.svc.store.db
      .selectFrom("meters")
      .select(["id", "name", "category", "unit"])
      .execute())
      meterNames[m.id.toUpperCase()] = { name: m.name, category: m.category, unit: m.unit };
    for (const [key, q] of [...groups].sort()) {
      const [sub, meter, period] = key.split("|") as [string, string, string];
      const info = meterNames[meter]!;
      const base = {
        subscriptionId: sub,
        subscriptionName: sub === w.subA ? "A" : "B",
        offerId: "default",
        meterId: meter,
        meterName: info.name,
        meterCategory: info.category,
        meterSubCategory: null,
        unit: info.unit,
        usagePeriod: period,
        usageStart: period === "2026-10" ? "2026-10-31T00:00:00.000Z" : "2026-11-01T00:00:00.000Z",
        usageEnd: period === "2026-10" ? "2026-11-01T00:00:00.000Z" : "2026-12-01T00:00:00.000Z",
        kind: period === "2026-10" ? ("priorPeriodUsage" as const) : ("usage" as const),
        departmentId: sub === w.subB ? "dept-eng" : null,
        costCenter: sub === w.subB ? "CC-42" : null,
      };
      if (sub === w.subA && meter === VM_BASE.toUpperCase() && period === "2026-11") {
        // A tiered meter: 10 units included, the rest at 0.0137.
        const rest = q.minus(10);
        lines.push(
          makeLine({
            ...base,
            description: "VM hours",
            tier: "included",
            quantity: "10",
            unitPrice: "0",
            listUnitPrice: "0",
            amount: "0.00",
          }),
          makeLine({
            ...base,
            description: "VM hours",
            tier: "0",
            quantity: rest.toFixed(),
            unitPrice: "0.0137",
            listUnitPrice: "0.0137",
            amount: money(rest.mul("0.0137")),
          }),
        );
      } else {
        const price = meter === VM_BASE.toUpperCase() ? "0.0211" : "1.7319";
        lines.push(
          makeLine({
            ...base,
            description: `${info.name} usage`,
            tier: "0",
            quantity: q.toFixed(),
            unitPrice: price,
            listUnitPrice: price,
            amount: money(q.mul(price)),
          }),
        );
      }
    }
    lines.push(
      makeLine({
        kind: "commitmentDiscount",
        description: "Commitment discount 5%",
        subscriptionId: w.subB,
        subscriptionName: "B",
        meterId: BLOB_CAPACITY,
        meterName: meterNames[BLOB_CAPACITY]!.name,
        meterCategory: meterNames[BLOB_CAPACITY]!.category,
        usagePeriod: "2026-11",
        amount: "-1.23",
      }),
      makeLine({
        kind: "recurringCharge",
        description: "Support plan",
        subscriptionId: w.subA,
        subscriptionName: "A",
        usageStart: "2026-11-01T00:00:00.000Z",
        usageEnd: "2026-12-01T00:00:00.000Z",
        amount: "15.00",
      }),
      makeLine({ kind: "credit", description: "Welcome credit", amount: "-5.00" }),
    );
    const invoice = makeInvoice({
      id: "inv_2026_11_contoso",
      period: "2026-11",
      periodStart: iso(NOV),
      periodEnd: iso(DEC),
      lines,
    });
    t.source.invoices.set(invoice.id, { doc: invoice, reportedFrom: NOV, reportedTo: DEC });
    const final = {
      ...invoice,
      id: "inv_2026_10_final",
      period: "2026-10",
      status: "finalized" as const,
      number: "NW-2026-000017",
      finalizedAt: "2026-11-05T00:00:00.000Z",
      lines: invoice.lines.slice(0, 3),
    };
    t.source.invoices.set(final.id, { doc: makeInvoice(final), reportedFrom: NOV - 31 * D, reportedTo: NOV });
    const decLines = [
      makeLine({
        kind: "priorPeriodUsage",
        description: "VM hours, late",
        subscriptionId: w.subA,
        subscriptionName: "A",
        meterId: VM_BASE,
        meterName: meterNames[VM_BASE.toUpperCase()]!.name,
        meterCategory: "Virtual Machines",
        quantity: "1",
        unitPrice: "0.0137",
        listUnitPrice: "0.0137",
        tier: "0",
        usagePeriod: "2026-11",
        amount: "0.01",
      }),
    ];
    const estimate: EstimateView = {
      billingAccountId: "ba_contoso",
      period: "2026-12",
      periodStart: iso(DEC),
      periodEnd: iso(Date.UTC(2027, 0, 1)),
      estimate: true,
      asOf: iso(DEC + D),
      note: "An estimate: the invoice may differ.",
      currency: "EUR",
      subtotal: "0.01",
      taxRate: "19",
      tax: "0.00",
      total: "0.01",
      complete: true,
      lines: decLines,
    };
    t.source.estimate = { doc: estimate, reportedFrom: DEC, reportedTo: DEC + D };
    t.source.subscriptionIds = [w.subA, w.subB];
  }, 120_000);
  afterAll(async () => t?.cleanup());

  it("writes the version 2 file: both sections, the reference's columns in order, the usage exactly", async () => {
    t.source.chargesVisible = true;
    const r = await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-11&format=v2`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers["content-type"]).toBe("text/csv; charset=utf-8");
    expect(r.headers["content-disposition"]).toBe(
      'attachment; filename="usage-v2-ba_contoso-2026-11-invoice.csv"',
    );
    const v2 = v2Sections(r.body);
    expect(v2.statementTitle).toEqual(["Statement"]);
    expect(v2.dailyTitle).toEqual(["Daily Usage"]);
    expect(v2.statementHeader.length).toBe(REF_STATEMENT.length);
    for (const [i, c] of REF_STATEMENT.entries())
      expect(v2.statementHeader[i], `statement column ${i + 1}`).toBe(c);
    expect(v2.dailyHeader.length).toBe(REF_DAILY.length);
    for (const [i, c] of REF_DAILY.entries()) expect(v2.dailyHeader[i], `daily column ${i + 1}`).toBe(c);

    // Daily rows: usage reported in November of A and B (never C), late usage with its own date.
    const col = (name: string) => REF_DAILY.indexOf(name);
    const expected = expectedDaily([w.subA, w.subB], NOV, DEC);
    const got = new Map<string, string>();
    for (const row of v2.daily) {
      expect(row.length).toBe(REF_DAILY.length);
      const uri = row[col("Instance ID")]!;
      const sub = uri.split("/")[2]!;
      got.set(
        `${sub}|${row[col("Usage Date")]}|${row[col("Meter ID")]}|${uri}`,
        row[col("Consumed Quantity")]!,
      );
      expect(row[col("Resource Group")]).toBe("rg");
      expect(row[col("Consumed Service")]).toBe("Microsoft.Compute");
      expect(row[col("Resource Location")]).toBe("local");
      expect([row[col("Service Info 1")], row[col("Service Info 2")]]).toEqual(["", ""]);
      if (uri.endsWith("vm1"))
        expect(JSON.parse(row[col("Tags")]!)).toEqual({ env: "prod", owner: 'Zoë, "ops"' });
      else expect(JSON.parse(row[col("Additional Info")]!)).toEqual({ ImageType: "Windows" });
    }
    expect(got.size).toBe(v2.daily.length);
    expect(got.size).toBe(expected.size);
    for (const [key, e] of expected) expect(got.get(key), key).toBe(e.q.toFixed());
    expect(v2.daily.filter((row) => row[0] === "2026-10-31").length).toBe(2);
    expect(v2.daily.some((row) => row[col("Instance ID")]!.includes(w.subC))).toBe(false);
    // Ordered by subscription (A before B), then usage day.
    const order = v2.daily.map((row) => `${row[col("Instance ID")]!.includes(w.subA) ? 0 : 1}|${row[0]}`);
    expect([...order].sort()).toEqual(order);

    // Statement: one row per usage period × meter; consumed = Σ daily rows; money from the lines.
    const s = (name: string) => REF_STATEMENT.indexOf(name);
    const groups = expectedGroups([w.subA, w.subB], NOV, DEC);
    const perMeter = new Map<string, Decimal>();
    for (const [key, q] of groups) {
      const [, meter, period] = key.split("|");
      perMeter.set(`${period}|${meter}`, (perMeter.get(`${period}|${meter}`) ?? new Decimal(0)).plus(q));
    }
    expect(v2.statement.length).toBe(perMeter.size);
    const invoice = t.source.invoices.get("inv_2026_11_contoso")!.doc;
    for (const row of v2.statement) {
      const key = `${row[s("Billing Period")]}|${row[s("SKU")]!.toUpperCase()}`;
      expect(row[s("Consumed Quantity")], key).toBe(perMeter.get(key)!.toFixed());
      expect(row[s("Currency")]).toBe("EUR");
      const meterLines = invoice.lines.filter(
        (l) =>
          (l.kind === "usage" || l.kind === "priorPeriodUsage") &&
          l.usagePeriod === row[s("Billing Period")] &&
          l.meterId!.toUpperCase() === row[s("SKU")]!.toUpperCase(),
      );
      const value = meterLines.reduce((a, l) => a.plus(l.amount!), new Decimal(0));
      expect(row[s("Value")], key).toBe(value.toFixed(2));
      const included = meterLines
        .filter((l) => l.tier === "included")
        .reduce((a, l) => a.plus(l.quantity!), new Decimal(0));
      expect(row[s("Included Quantity")]).toBe(included.toFixed());
      expect(row[s("Overage Quantity")]).toBe(perMeter.get(key)!.minus(included).toFixed());
    }
    // The blob meter of November got a commitment discount: its charges count against the commitment.
    const blob = v2.statement.find(
      (row) => row[s("Billing Period")] === "2026-11" && row[s("SKU")]!.toUpperCase() === BLOB_CAPACITY,
    )!;
    expect(new Decimal(blob[s("Within Commitment")]!).toFixed(2)).toBe(
      new Decimal(blob[s("Value")]!).minus("1.23").toFixed(2),
    );
    expect(blob[s("Overage")]).toBe("0.00");
    const vm = v2.statement.find(
      (row) => row[s("Billing Period")] === "2026-11" && row[s("SKU")]!.toUpperCase() === VM_BASE,
    )!;
    expect(vm[s("Included Quantity")]).toBe("10");
    expect(vm[s("Overage")]).toBe(vm[s("Value")]);
  });

  it("reads the same rows however the reads are chunked", async () => {
    const doc = await t.source.periodDocument(
      { id: "x" } as Parameters<typeof t.source.periodDocument>[0],
      "ba_contoso",
      "2026-11",
    );
    const all = async (chunk?: number) => {
      const out: string[] = [];
      for await (const rows of dailyUsageRows(t.svc.store, doc, chunk))
        for (const r of rows)
          out.push(
            `${r.subscriptionId}|${r.usageDate}|${r.meterId}|${r.resourceUri}|${r.quantity}|${r.units}`,
          );
      return out;
    };
    const whole = await all();
    expect(whole.length).toBe(expectedDaily([w.subA, w.subB], NOV, DEC).size);
    expect(await all(3)).toEqual(whole);
    expect(await all(1)).toEqual(whole);
  });

  it("writes the usage and charges file: the reference's names, costs adding up exactly per line and in total", async () => {
    t.source.chargesVisible = true;
    const r = await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-11&format=charges`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers["content-disposition"]).toBe(
      'attachment; filename="usage-and-charges-ba_contoso-2026-11-invoice.csv"',
    );
    const [header, ...rows] = readCsv(r.body);
    expect(header).toEqual([...CHARGES_COLUMNS]);
    for (const c of header!) expect(REF_CHARGES.has(c), c).toBe(true);
    const at = (name: string) => header!.indexOf(name);
    const invoice = t.source.invoices.get("inv_2026_11_contoso")!.doc;

    const usage = rows.filter((row) => row[at("ChargeType")] === "Usage" && row[at("ResourceId")] !== "");
    expect(usage.length).toBe(expectedDaily([w.subA, w.subB], NOV, DEC).size);
    // Per subscription × meter × usage period, the rows' costs add up to the lines' amounts exactly.
    const costs = new Map<string, Decimal>();
    const qty = new Map<string, Decimal>();
    for (const row of usage) {
      const key = `${row[at("SubscriptionId")]}|${row[at("MeterId")]!.toUpperCase()}|${row[at("Date")]!.slice(0, 7)}`;
      expect(row[at("Cost")]).toMatch(/^-?\d+\.\d{2}$/);
      costs.set(key, (costs.get(key) ?? new Decimal(0)).plus(row[at("Cost")]!));
      qty.set(key, (qty.get(key) ?? new Decimal(0)).plus(row[at("Quantity")]!));
      expect(row[at("BillingAccountId")]).toBe("ba_contoso");
      expect(row[at("BillingPeriodStartDate")]).toBe("2026-11-01");
      expect(row[at("BillingPeriodEndDate")]).toBe("2026-11-30");
      expect(row[at("Frequency")]).toBe("UsageBased");
      expect(row[at("ResourceName")]).toMatch(/^vm[12]$/);
      expect(row[at("Currency")]).toBe("EUR");
    }
    const lineAmounts = new Map<string, Decimal>();
    for (const l of invoice.lines) {
      if (l.kind !== "usage" && l.kind !== "priorPeriodUsage") continue;
      const key = `${l.subscriptionId}|${l.meterId!.toUpperCase()}|${l.usagePeriod}`;
      lineAmounts.set(key, (lineAmounts.get(key) ?? new Decimal(0)).plus(l.amount!));
    }
    expect([...costs.keys()].sort()).toEqual([...lineAmounts.keys()].sort());
    for (const [key, a] of lineAmounts) expect(costs.get(key)!.toFixed(2), key).toBe(a.toFixed(2));
    for (const [key, q] of expectedGroups([w.subA, w.subB], NOV, DEC))
      expect(qty.get(key)!.toFixed(), key).toBe(q.toFixed());
    // Department and cost center from the subscription's lines; prior-period rows keep their date.
    expect(
      usage
        .filter((row) => row[at("SubscriptionId")] === w.subB)
        .every((row) => row[at("CostCenter")] === "CC-42"),
    ).toBe(true);
    expect(usage.filter((row) => row[at("Date")] === "2026-10-31").length).toBe(2);

    // The offer terms: one row each, with the reference's ChargeType and Frequency.
    const terms = rows.filter((row) => row[at("ResourceId")] === "");
    expect(
      terms.map((row) => [row[at("Product")], row[at("ChargeType")], row[at("Frequency")], row[at("Cost")]]),
    ).toEqual([
      ["Commitment discount 5%", "Refund", "UsageBased", "-1.23"],
      ["Support plan", "Purchase", "Recurring", "15.00"],
      ["Welcome credit", "Refund", "OneTime", "-5.00"],
    ]);
    const total = rows.reduce((a, row) => a.plus(row[at("Cost")]!), new Decimal(0));
    expect(total.toFixed(2)).toBe(invoice.subtotal);
  });

  it("writes the current period's estimate: usage reported so far, late usage with its own date", async () => {
    t.source.chargesVisible = true;
    const r = await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=current&format=charges`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers["content-disposition"]).toContain("usage-and-charges-ba_contoso-2026-12-estimate.csv");
    const [header, ...rows] = readCsv(r.body);
    const at = (name: string) => header!.indexOf(name);
    expect(
      rows.map((row) => [row[at("Date")], row[at("Quantity")], row[at("Cost")], row[at("InvoiceId")]]),
    ).toEqual([["2026-11-30", "1", "0.01", ""]]);
    const v2 = v2Sections(
      (await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-12`)).body,
    );
    expect(v2.daily.map((row) => [row[0], row[7]])).toEqual([["2026-11-30", "1"]]);
  });

  it("leaves every money column empty when the caller may not see charges", async () => {
    t.source.chargesVisible = false;
    try {
      const charges = readCsv(
        (await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-11&format=charges`)).body,
      );
      const header = charges[0]!;
      for (const c of ["UnitPrice", "EffectivePrice", "Cost"])
        expect(
          charges.slice(1).every((row) => row[header.indexOf(c)] === ""),
          c,
        ).toBe(true);
      expect(charges.slice(1).every((row) => row[header.indexOf("Quantity")] !== "")).toBe(false); // terms have no quantity
      expect(charges.slice(1).some((row) => row[header.indexOf("Quantity")] !== "")).toBe(true);

      const v2 = v2Sections(
        (await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-11`)).body,
      );
      for (const c of ["Within Commitment", "Overage", "Commitment Rate", "Rate", "Value"])
        expect(
          v2.statement.every((row) => row[REF_STATEMENT.indexOf(c)] === ""),
          c,
        ).toBe(true);
      expect(v2.statement.every((row) => row[REF_STATEMENT.indexOf("Consumed Quantity")] !== "")).toBe(true);

      const csv = readCsv(
        (await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_2026_11_contoso.csv`)).body,
      );
      for (const c of ["listUnitPrice", "unitPrice", "amount"])
        expect(
          csv.slice(1).every((row) => row[csv[0]!.indexOf(c)] === ""),
          c,
        ).toBe(true);

      const pdf = await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_2026_11_contoso.pdf`);
      const text = (await pdfText(pdf.rawPayload)).join("\n");
      expect(text).toContain("Charges are not shown");
      const invoice = t.source.invoices.get("inv_2026_11_contoso")!.doc;
      for (const l of invoice.lines) if (l.amount !== "0.00") expect(text).not.toContain(l.amount);
      expect(text).not.toContain(invoice.total);
      expect(text).not.toContain("Subtotal");
    } finally {
      t.source.chargesVisible = true;
    }
  });

  it("renders the invoice as a PDF: issuer, account, number, every line, subtotal, tax, total; drafts say DRAFT", async () => {
    const r = await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_2026_11_contoso.pdf`);
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toBe("application/pdf");
    expect(r.headers["content-disposition"]).toBe('attachment; filename="invoice-inv_2026_11_contoso.pdf"');
    expect(r.rawPayload.subarray(0, 5).toString()).toBe("%PDF-");
    const pages = await pdfText(r.rawPayload);
    const text = pages.join("\n");
    const invoice = t.source.invoices.get("inv_2026_11_contoso")!.doc;
    for (const s of [
      "Northwind Cloud GmbH",
      "Contoso Ltd",
      "1 Main Street",
      "ba_contoso",
      "inv_2026_11_contoso",
      "DRAFT",
      "2026-11",
    ])
      expect(text, s).toContain(s);
    for (const l of invoice.lines) {
      if (l.subscriptionId) expect(text).toContain(l.subscriptionId);
      if (l.meterName) expect(text).toContain(l.meterName);
      expect(text).toContain(l.amount);
    }
    expect(text).toContain("Prior period 2026-10: usage 2026-10-31 to 2026-10-31");
    expect(text).toMatch(new RegExp(`Subtotal\\s+${invoice.subtotal}`));
    expect(text).toMatch(new RegExp(`Tax \\(19%\\)\\s+${invoice.tax}`));
    expect(text).toMatch(new RegExp(`Total EUR\\s+${invoice.total}`));
    expect(pages.every((p) => /Page \d+ of \d+/.test(p))).toBe(true);

    const final = await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_2026_10_final.pdf`);
    const ftext = (await pdfText(final.rawPayload)).join("\n");
    expect(final.headers["content-disposition"]).toBe('attachment; filename="invoice-NW-2026-000017.pdf"');
    expect(ftext).toContain("NW-2026-000017");
    expect(ftext).not.toContain("DRAFT");
  });

  it("pages a long invoice and repeats the table header", async () => {
    const base = t.source.invoices.get("inv_2026_11_contoso")!.doc;
    const lines = Array.from({ length: 150 }, (_, i) =>
      makeLine({ ...base.lines[0]!, description: `Line ${i + 1}`, amount: `${i + 1}.00`, tier: "0" }),
    );
    const long = makeInvoice({ ...base, id: "inv_long", lines });
    t.source.invoices.set("inv_long", { doc: long, reportedFrom: NOV, reportedTo: DEC });
    const pages = await pdfText(
      (await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_long.pdf`)).rawPayload,
    );
    expect(pages.length).toBeGreaterThan(2);
    for (const p of pages) expect(p).toContain("Description");
    expect(pages.at(-1)).toContain(`Page ${pages.length} of ${pages.length}`);
    const text = pages.join("\n");
    for (const l of lines) expect(text).toContain(l.description);
    expect(text).toContain(long.total);
  });

  it("says so on the PDF when some usage had no price", async () => {
    const base = t.source.invoices.get("inv_2026_11_contoso")!.doc;
    const incomplete = makeInvoice({
      ...base,
      id: "inv_incomplete",
      complete: false,
      lines: base.lines.slice(0, 2),
    });
    t.source.invoices.set("inv_incomplete", { doc: incomplete, reportedFrom: NOV, reportedTo: DEC });
    const text = (
      await pdfText((await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_incomplete.pdf`)).rawPayload)
    ).join(" ");
    expect(text).toContain("Some usage had no price in force and is not included in the amounts.");
    expect(text).toContain(incomplete.total);
  });

  it("writes the invoice as CSV, one row per line with every line field", async () => {
    const r = await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_2026_11_contoso.csv`);
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-disposition"]).toBe('attachment; filename="invoice-inv_2026_11_contoso.csv"');
    const [header, ...rows] = readCsv(r.body);
    expect(header).toEqual([...INVOICE_CSV_COLUMNS]);
    const invoice = t.source.invoices.get("inv_2026_11_contoso")!.doc;
    expect(rows.length).toBe(invoice.lines.length);
    rows.forEach((row, i) => {
      const l = invoice.lines[i]!;
      for (const [k, v] of Object.entries(l))
        expect(row[header!.indexOf(k)], k).toBe(v === null ? "" : String(v));
      expect(row.slice(0, 5)).toEqual(["inv_2026_11_contoso", "", "draft", "2026-11", "EUR"]);
    });
    expect(rows.reduce((a, row) => a.plus(row[header!.indexOf("amount")]!), new Decimal(0)).toFixed(2)).toBe(
      invoice.subtotal,
    );
  });

  it("coexists with the invoice's own route, and answers errors before streaming", async () => {
    // Without a suffix the URL is the billing core's invoice route, which knows no fixture account.
    const plain = await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_2026_11_contoso`);
    expect(plain.statusCode).toBe(404);
    expect(
      (await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_2026_11_contoso.pdf`)).statusCode,
    ).toBe(200);
    expect((await get(`/api/v1/billing-accounts/ba_contoso/invoices/inv_nope.pdf`)).statusCode).toBe(404);
    expect((await get(`/api/v1/billing-accounts/ba_other/invoices/inv_2026_11_contoso.csv`)).statusCode).toBe(
      404,
    );
    const bad = await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-13`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe("ValidationFailed");
    expect(
      (await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-11&format=xml`)).statusCode,
    ).toBe(400);
    expect((await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2025-01`)).statusCode).toBe(
      404,
    );
    expect(
      (await get(`/api/v1/billing-accounts/ba_contoso/usage-download?period=2026-11`, {})).statusCode,
    ).toBe(401);
    const spec = (await get("/openapi.json")).json();
    const paths = Object.keys(spec.paths);
    expect(paths).toContain("/api/v1/billing-accounts/{accountId}/usage-download");
    expect(
      paths.some(
        (p) =>
          p.startsWith("/api/v1/billing-accounts/{accountId}/invoices/{invoiceId}") && p.endsWith(".pdf"),
      ),
    ).toBe(true);
  });
});
