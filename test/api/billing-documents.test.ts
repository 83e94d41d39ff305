import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { pdfText, readCsv, v2Sections } from "../billing-download-helpers.js";
import { DIALECTS, guid, openTestApp, operatorCalls, type TestApp } from "../helpers.js";
import { BLOB_CAPACITY, H, VM_BASE } from "../usage-helpers.js";

/**
 * The downloads on the billing core's own documents, end to end: usage imported, November closed
 * into an invoice and finalized, then every file of the period and of the month to date read back
 * and checked against the invoice (or estimate) and against the records sent, to the cent.
 */
const iso = (t: number) => new Date(t).toISOString();
const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);
const DIR = guid(0x701);
const SUB = guid(0x711);

interface Sent {
  meterId: string;
  quantity: Decimal;
  reported: number;
}

describe.each(DIALECTS)("billing documents of the billing core on %s", (dialect) => {
  let t: TestApp;
  const sent: Sent[] = [];
  const { req, ok } = operatorCalls(() => t);
  const sumOf = (rows: string[][], col: number) =>
    rows.reduce((s, r) => s.plus(r[col] || "0"), new Decimal(0));
  /** What was sent of a meter and reported in [from, to), summed independently of tally. */
  const sentQuantity = (meterId: string, from: number, to: number) =>
    sent
      .filter((s) => s.meterId === meterId && s.reported >= from && s.reported < to)
      .reduce((a, s) => a.plus(s.quantity), new Decimal(0));

  beforeAll(async () => {
    t = await openTestApp(dialect, { clock: new ManualClock(Date.UTC(2026, 11, 5, 12)) });
    await ok("POST", "/api/v1/directories", { id: DIR, displayName: "Acme" });
    await ok("POST", "/api/v1/subscriptions", { id: SUB, displayName: "Acme prod", directoryId: DIR });
    await ok("POST", "/api/v1/price-sheets", {
      offerId: "default",
      currency: "USD",
      effectiveDate: "2026-01-01",
      meters: [
        { meterId: VM_BASE, rates: { "0": "0.021", "300": "0.0155" }, includedQuantity: "25" },
        { meterId: BLOB_CAPACITY, rates: { "0": "0.00037" } },
      ],
      terms: [{ name: "Recurring Charge", recurringCharge: "4.5" }],
    });
    const records = [];
    for (let d = 1; d <= 30; d++)
      for (const [m, meter] of [VM_BASE, BLOB_CAPACITY].entries()) {
        const start = Date.UTC(2026, 10, d, 6 + m);
        // The last two days' compute arrives late: reported in December, billed on its invoice.
        const reported = d >= 29 && m === 0 ? DEC + 9 * H : start + 2 * H;
        const quantity = `${(d * 17 + m * 5) % 23}.${d}7`;
        sent.push({ meterId: meter, quantity: new Decimal(quantity), reported });
        records.push({
          id: `r-${d}-${m}`,
          subscriptionId: SUB,
          meterId: meter,
          quantity,
          usageStartTime: iso(start),
          usageEndTime: iso(start + H),
          reportedTime: iso(reported),
          resourceUri: `/subscriptions/${SUB}/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/vm${m}`,
          tags: { env: "prod" },
        });
      }
    await ok("POST", "/api/v1/usage-imports", records);
    await ok("POST", "/api/v1/billing-accounts", {
      id: "acme",
      kind: "customer",
      displayName: "Acme Corporation",
      currency: "USD",
      taxRate: "8.25",
      directoryId: DIR,
      firstPeriod: "2026-11",
      address: { line1: "1 Main St", city: "Springfield", country: "US" },
    });
  });
  afterAll(async () => t.cleanup());

  it("downloads a finalized invoice and its period's usage files, which agree with it to the cent", async () => {
    const draft = await ok("POST", "/api/v1/billing-accounts/acme/periods/2026-11/close");
    const inv = await ok("POST", `/api/v1/billing-accounts/acme/invoices/${draft.id}/finalize`);
    expect(inv.status).toBe("finalized");
    const linesTotal = inv.lines.reduce(
      (s: Decimal, l: { amount: string }) => s.plus(l.amount),
      new Decimal(0),
    );
    expect(linesTotal.toFixed(2)).toBe(inv.subtotal);

    // The invoice as CSV: one row per line, the same amounts.
    const csv = await req("GET", `/api/v1/billing-accounts/acme/invoices/${inv.id}.csv`);
    expect(csv.statusCode).toBe(200);
    const [header, ...rows] = readCsv(csv.body);
    expect(rows.map((r) => r[header!.indexOf("amount")])).toEqual(
      inv.lines.map((l: { amount: string }) => l.amount),
    );

    // The invoice as PDF: its number, the account, every line's amount and the totals.
    const pdf = await req("GET", `/api/v1/billing-accounts/acme/invoices/${inv.id}.pdf`);
    expect(pdf.statusCode).toBe(200);
    expect(pdf.headers["content-type"]).toContain("application/pdf");
    const text = (await pdfText(pdf.rawPayload)).join(" ");
    for (const s of [inv.number, "Acme Corporation", inv.subtotal, inv.tax, inv.total])
      expect(text).toContain(s);
    expect(text).not.toContain("DRAFT");

    // Version 2: the daily section holds exactly what was reported in November, per meter; the
    // statement's values add up to the invoice's usage lines.
    const v2 = await req("GET", "/api/v1/billing-accounts/acme/usage-download?period=2026-11&format=v2");
    expect(v2.statusCode).toBe(200);
    const file = v2Sections(v2.body);
    const dq = file.dailyHeader.indexOf("Consumed Quantity");
    const dm = file.dailyHeader.indexOf("Meter ID");
    for (const meter of [VM_BASE, BLOB_CAPACITY])
      expect(
        sumOf(
          file.daily.filter((r) => r[dm]!.toUpperCase() === meter.toUpperCase()),
          dq,
        ).toString(),
      ).toBe(sentQuantity(meter, NOV, DEC).toString());
    const usageAmount = inv.lines
      .filter((l: { kind: string }) => l.kind === "usage" || l.kind === "priorPeriodUsage")
      .reduce((s: Decimal, l: { amount: string }) => s.plus(l.amount), new Decimal(0));
    expect(sumOf(file.statement, file.statementHeader.indexOf("Value")).toFixed(2)).toBe(
      usageAmount.toFixed(2),
    );

    // Usage and charges: the costs add up to the invoice's subtotal exactly.
    const charges = await req(
      "GET",
      "/api/v1/billing-accounts/acme/usage-download?period=2026-11&format=charges",
    );
    expect(charges.statusCode).toBe(200);
    const [ch, ...crows] = readCsv(charges.body);
    expect(sumOf(crows, ch!.indexOf("Cost")).toFixed(2)).toBe(inv.subtotal);
    expect(new Set(crows.map((r) => r[ch!.indexOf("InvoiceId")]))).toEqual(new Set([inv.number]));
  });

  it("downloads the month to date as the estimate: December's late November usage, at its own dates", async () => {
    const est = await ok("GET", "/api/v1/billing-accounts/acme/estimate");
    expect(est.estimate).toBe(true);
    const late = est.lines.filter((l: { kind: string }) => l.kind === "priorPeriodUsage");
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((l: { usagePeriod: string }) => l.usagePeriod === "2026-11")).toBe(true);

    const v2 = await req("GET", "/api/v1/billing-accounts/acme/usage-download?period=current&format=v2");
    expect(v2.statusCode).toBe(200);
    const file = v2Sections(v2.body);
    const dq = file.dailyHeader.indexOf("Consumed Quantity");
    const dates = new Set(file.daily.map((r) => r[file.dailyHeader.indexOf("Usage Date")]));
    expect([...dates].sort()).toEqual(["2026-11-29", "2026-11-30"]);
    expect(sumOf(file.daily, dq).toString()).toBe(
      sentQuantity(VM_BASE, DEC, Date.UTC(2027, 0, 1)).toString(),
    );

    const charges = await req(
      "GET",
      "/api/v1/billing-accounts/acme/usage-download?period=current&format=charges",
    );
    const [ch, ...crows] = readCsv(charges.body);
    expect(sumOf(crows, ch!.indexOf("Cost")).toFixed(2)).toBe(est.subtotal);
  });
});
