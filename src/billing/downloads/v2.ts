import { formatMinor, toMinor } from "../../domain/billing/allocation.js";
import { resourcePartsCache } from "../../domain/billing/resource-uri.js";
import { formatQuantity, type Quantity, SCALE } from "../../domain/quantity.js";
import { Dec } from "../../domain/rating/decimal.js";
import type { Store } from "../../storage/database.js";
import type { CsvRecord } from "./csv.js";
import {
  type LineGroup,
  lineQuantity,
  meterKey,
  type UsageDocument,
  usageGroups,
  visibleLines,
} from "./document.js";
import { dailyUsageRows, type MeterInfo, type UsageTotal, usageTotals } from "./usage-rows.js";

/** The statement section's columns, as reference §8.1 lists them. */
export const V2_STATEMENT_COLUMNS = [
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
] as const;

/** The daily usage section's columns, as reference §8.1 lists them. */
export const V2_DAILY_COLUMNS = [
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
] as const;

/** The title rows that open the two sections. */
export const V2_STATEMENT_TITLE = "Statement";
export const V2_DAILY_TITLE = "Daily Usage";

/** Rates that are quotients (blended tiers, discounted rates) are written to this many digits. */
const RATE_DIGITS = 10;

const rateText = (d: Dec) => {
  const s = d.toDecimalPlaces(RATE_DIGITS, Dec.ROUND_HALF_EVEN).toFixed();
  return s === "-0" ? "0" : s;
};

interface StatementRow {
  period: string;
  meterId: string;
  meter: MeterInfo;
  consumed: Quantity;
  included: Quantity;
  /** Usage lines of every visible subscription for this meter and period, merged. */
  priced: LineGroup | undefined;
  /** Σ commitment discounts on this meter and period (minor units, ≤ 0). */
  discount: bigint;
}

/**
 * One statement row per usage period × meter: the consumed quantity from the usage itself (so it
 * equals the daily rows' sum, unpriced usage included), the rest from the document's lines.
 */
export function statementRows(doc: UsageDocument, totals: readonly UsageTotal[]): StatementRow[] {
  const lines = visibleLines(doc);
  const rows = new Map<string, StatementRow>();
  const row = (period: string, meterId: string, meter: MeterInfo) => {
    const key = `${period}|${meterKey(meterId)}`;
    let r = rows.get(key);
    if (!r) {
      r = { period, meterId, meter, consumed: 0n, included: 0n, priced: undefined, discount: 0n };
      rows.set(key, r);
    }
    return r;
  };
  const fromUsage = new Set<string>();
  for (const t of totals) {
    if (!t.meter) continue;
    row(t.period, t.meterId, t.meter).consumed += t.units;
    fromUsage.add(`${t.period}|${meterKey(t.meterId)}`);
  }
  for (const g of usageGroups(doc, lines).values()) {
    const l0 = g.lines[0]!;
    const period = l0.usagePeriod ?? doc.document.period;
    const r = row(period, l0.meterId!, {
      id: l0.meterId!,
      name: l0.meterName ?? "",
      unit: l0.unit ?? "",
      category: l0.meterCategory ?? "",
      subCategory: l0.meterSubCategory ?? "",
    });
    const inUsage = fromUsage.has(`${period}|${meterKey(l0.meterId!)}`);
    for (const l of g.lines) {
      if (!inUsage) r.consumed += lineQuantity(l);
      if (l.tier === "included") r.included += lineQuantity(l);
    }
    r.priced = r.priced
      ? { lines: [...r.priced.lines, ...g.lines], amount: r.priced.amount + g.amount }
      : { lines: [...g.lines], amount: g.amount };
  }
  for (const l of lines) {
    if (l.kind !== "commitmentDiscount" || l.meterId === null) continue;
    const r = rows.get(`${l.usagePeriod ?? doc.document.period}|${meterKey(l.meterId)}`);
    if (r) r.discount += toMinor(l.amount ?? "0", doc.document.currency);
  }
  return [...rows.values()].sort(
    (a, b) =>
      a.period.localeCompare(b.period) ||
      a.meter.category.localeCompare(b.meter.category) ||
      a.meter.name.localeCompare(b.meter.name) ||
      a.meterId.localeCompare(b.meterId),
  );
}

/**
 * The money columns of a statement row. tally bills every charge (a Monetary Commitment is a
 * minimum spend with a discount, not a prepaid balance), so: `Value` is what the lines charge
 * (Σ of their rounded amounts); a meter that received a commitment discount counts against the
 * commitment — `Within Commitment` is its value after the discount, `Commitment Rate` the
 * discounted rate, `Overage` 0 — and any other meter's value is `Overage`. `Rate` is the unit price
 * when all charged units have one, else the blended Value ÷ Overage Quantity.
 */
function money(r: StatementRow, overageQty: Quantity, currency: string) {
  if (!r.priced) return { within: "", overage: "", commitmentRate: "", rate: "", value: "" };
  const value = r.priced.amount;
  const prices = new Set(r.priced.lines.filter((l) => l.tier !== "included").map((l) => l.unitPrice ?? ""));
  const qty = new Dec(overageQty.toString()).div(SCALE.toString());
  const rate =
    prices.size === 1
      ? [...prices][0]!
      : prices.size === 0 || qty.isZero()
        ? "0"
        : rateText(new Dec(formatMinor(value, currency)).div(qty));
  if (r.discount === 0n)
    return {
      within: formatMinor(0n, currency),
      overage: formatMinor(value, currency),
      commitmentRate: "",
      rate,
      value: formatMinor(value, currency),
    };
  const within = value + r.discount;
  return {
    within: formatMinor(within, currency),
    overage: formatMinor(0n, currency),
    commitmentRate: qty.isZero() ? "0" : rateText(new Dec(formatMinor(within, currency)).div(qty)),
    rate,
    value: formatMinor(value, currency),
  };
}

function statementRecord(doc: UsageDocument, r: StatementRow): CsvRecord {
  const overageQty = r.consumed > r.included ? r.consumed - r.included : 0n;
  const m = doc.chargesVisible
    ? money(r, overageQty, doc.document.currency)
    : { within: "", overage: "", commitmentRate: "", rate: "", value: "" };
  return [
    r.period,
    r.meter.category,
    r.meter.subCategory,
    r.meter.name,
    "",
    r.meterId,
    r.meter.unit,
    formatQuantity(r.consumed),
    formatQuantity(r.included),
    formatQuantity(overageQty),
    m.within,
    doc.document.currency,
    m.overage,
    m.commitmentRate,
    m.rate,
    m.value,
  ];
}

/**
 * The "version 2" usage file as CSV records: a title row `Statement`, its header and rows, one
 * empty line, a title row `Daily Usage`, its header and the daily rows, streamed.
 */
export async function* v2Records(store: Store, doc: UsageDocument): AsyncGenerator<CsvRecord[]> {
  const totals = await usageTotals(store, doc);
  yield [
    [V2_STATEMENT_TITLE],
    V2_STATEMENT_COLUMNS,
    ...statementRows(doc, totals).map((r) => statementRecord(doc, r)),
    [],
    [V2_DAILY_TITLE],
    V2_DAILY_COLUMNS,
  ];
  const partsOf = resourcePartsCache();
  for await (const chunk of dailyUsageRows(store, doc)) {
    yield chunk.map((r) => {
      const p = partsOf(r.resourceUri);
      return [
        r.usageDate,
        r.meterCategory,
        r.meterId,
        r.meterSubCategory,
        r.meterName,
        r.meterRegion,
        r.unit,
        r.quantity,
        r.location ?? "",
        p.consumedService,
        p.resourceGroup,
        r.resourceUri,
        r.tags ?? "",
        r.additionalInfo ?? "",
        "",
        "",
      ];
    });
  }
}
