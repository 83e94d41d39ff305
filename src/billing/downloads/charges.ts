import { CumulativeAllocation, formatMinor, toMinor } from "../../domain/billing/allocation.js";
import { resourcePartsCache } from "../../domain/billing/resource-uri.js";
import type { InvoiceLine, InvoiceLineKind } from "../../domain/billing/types.js";
import { SCALE } from "../../domain/quantity.js";
import { Dec } from "../../domain/rating/decimal.js";
import type { Store } from "../../storage/database.js";
import type { CsvRecord } from "./csv.js";
import {
  groupKey,
  isInvoice,
  isoDate,
  isUsageLine,
  type LineGroup,
  lastDay,
  subscriptionInfo,
  type UsageDocument,
  usageGroups,
  visibleLines,
} from "./document.js";
import { dailyUsageRows, usageTotals } from "./usage-rows.js";

/**
 * The "usage and charges" file's columns: the names of reference §8.2 that mean something in
 * tally, in the order a reader scans them (who pays, which period, what, where, how much). The
 * others, and why they are left out, are listed in docs/billing-downloads.md.
 */
export const CHARGES_COLUMNS = [
  "BillingAccountId",
  "BillingAccountName",
  "BillingPeriod",
  "BillingPeriodStartDate",
  "BillingPeriodEndDate",
  "InvoiceId",
  "InvoiceSectionId",
  "CostCenter",
  "SubscriptionId",
  "SubscriptionName",
  "OfferId",
  "Date",
  "ChargeType",
  "Frequency",
  "Product",
  "MeterId",
  "MeterCategory",
  "MeterSubCategory",
  "MeterName",
  "MeterRegion",
  "ConsumedService",
  "ResourceId",
  "ResourceName",
  "ResourceGroup",
  "ResourceLocation",
  "Quantity",
  "UnitOfMeasure",
  "UnitPrice",
  "EffectivePrice",
  "Cost",
  "Currency",
  "BillingCurrency",
  "Tags",
  "AdditionalInfo",
  "ServiceInfo1",
  "ServiceInfo2",
] as const;

/** ChargeType and Frequency of each kind of line, in the reference's vocabulary. */
const CHARGE_KIND: Record<InvoiceLineKind, { chargeType: string; frequency: string }> = {
  usage: { chargeType: "Usage", frequency: "UsageBased" },
  priorPeriodUsage: { chargeType: "Usage", frequency: "UsageBased" },
  recurringCharge: { chargeType: "Purchase", frequency: "Recurring" },
  commitmentShortfall: { chargeType: "Purchase", frequency: "OneTime" },
  commitmentDiscount: { chargeType: "Refund", frequency: "UsageBased" },
  credit: { chargeType: "Refund", frequency: "OneTime" },
  adjustment: { chargeType: "Usage", frequency: "OneTime" },
};

const chargeKind = (l: InvoiceLine) =>
  l.kind === "adjustment" && (l.amount ?? "").startsWith("-")
    ? { chargeType: "Refund", frequency: "OneTime" }
    : CHARGE_KIND[l.kind];

interface GroupPricing {
  allocation: CumulativeAllocation;
  unitPrice: string;
  effectivePrice: string;
}

/**
 * A group's prices: the list and charged unit price when all its charged units share them (the
 * included part is free and does not count), else the blended price A ÷ Q to 10 digits.
 */
function pricing(g: LineGroup, total: bigint, currency: string): GroupPricing {
  const charged = g.lines.filter((l) => l.tier !== "included");
  const list = new Set(charged.map((l) => l.listUnitPrice ?? l.unitPrice ?? ""));
  const unit = new Set(charged.map((l) => l.unitPrice ?? ""));
  const blended =
    total === 0n
      ? "0"
      : new Dec(formatMinor(g.amount, currency))
          .div(new Dec(total.toString()).div(SCALE.toString()))
          .toDecimalPlaces(10, Dec.ROUND_HALF_EVEN)
          .toFixed();
  return {
    allocation: new CumulativeAllocation(g.amount, total),
    unitPrice: list.size === 1 && unit.size === 1 ? [...list][0]! : blended,
    effectivePrice: unit.size === 1 ? [...unit][0]! : blended,
  };
}

/**
 * The "usage and charges" file as CSV records: the header, one row per usage day × meter ×
 * resource instance (streamed, each priced by cumulative allocation of its group's line amounts),
 * then one row per line that no daily row carries: the offer terms, adjustments, and usage lines
 * whose usage is not in the window. The Cost column adds up to the document's subtotal exactly.
 */
export async function* chargesRecords(store: Store, doc: UsageDocument): AsyncGenerator<CsvRecord[]> {
  const d = doc.document;
  const currency = d.currency;
  const visible = doc.chargesVisible;
  const lines = visibleLines(doc);
  const groups = usageGroups(doc, lines);
  const totals = new Map(
    (await usageTotals(store, doc)).map((t) => [groupKey(t.subscriptionId, t.meterId, t.period), t.units]),
  );
  const subs = subscriptionInfo(lines);
  const priced = new Map<string, GroupPricing>();
  const head = [
    doc.account.id,
    doc.account.displayName,
    d.period,
    isoDate(d.periodStart),
    lastDay(d.periodEnd),
    isInvoice(d) ? (d.number ?? "") : "",
  ];

  yield [CHARGES_COLUMNS];
  const partsOf = resourcePartsCache();
  for await (const chunk of dailyUsageRows(store, doc)) {
    yield chunk.map((r) => {
      const key = groupKey(r.subscriptionId, r.meterId, r.usageDate.slice(0, 7));
      let p = priced.get(key);
      if (p === undefined) {
        const g = groups.get(key);
        if (g) {
          p = pricing(g, totals.get(key) ?? 0n, currency);
          priced.set(key, p);
        }
      }
      const cost = p?.allocation.next(r.units);
      const s = subs.get(r.subscriptionId);
      const parts = partsOf(r.resourceUri);
      return [
        ...head,
        s?.departmentId ?? "",
        s?.costCenter ?? "",
        r.subscriptionId,
        r.subscriptionName,
        s?.offerId ?? "",
        r.usageDate,
        "Usage",
        "UsageBased",
        r.meterSubCategory
          ? `${r.meterCategory} - ${r.meterSubCategory} - ${r.meterName}`
          : `${r.meterCategory} - ${r.meterName}`,
        r.meterId,
        r.meterCategory,
        r.meterSubCategory,
        r.meterName,
        r.meterRegion,
        parts.consumedService,
        r.resourceUri,
        parts.resourceName,
        parts.resourceGroup,
        r.location ?? "",
        r.quantity,
        r.unit,
        visible && p ? p.unitPrice : "",
        visible && p ? p.effectivePrice : "",
        visible && cost !== undefined ? formatMinor(cost, currency) : "",
        currency,
        currency,
        r.tags ?? "",
        r.additionalInfo ?? "",
        "",
        "",
      ];
    });
  }

  // Lines no daily row carried: terms, adjustments, and usage whose rows are not in the window.
  const rest: CsvRecord[] = [];
  for (const l of lines) {
    if (isUsageLine(l) && l.subscriptionId !== null && l.meterId !== null) {
      const key = groupKey(l.subscriptionId, l.meterId, l.usagePeriod ?? d.period);
      if ((totals.get(key) ?? 0n) > 0n) continue;
    }
    const k = chargeKind(l);
    const s = l.subscriptionId === null ? undefined : subs.get(l.subscriptionId);
    rest.push([
      ...head,
      l.departmentId ?? s?.departmentId ?? "",
      l.costCenter ?? s?.costCenter ?? "",
      l.subscriptionId ?? "",
      l.subscriptionName ?? "",
      l.offerId ?? s?.offerId ?? "",
      isoDate(l.usageStart) || isoDate(d.periodStart),
      k.chargeType,
      k.frequency,
      l.description,
      l.meterId ?? "",
      l.meterCategory ?? "",
      l.meterSubCategory ?? "",
      l.meterName ?? "",
      l.meterRegion ?? "",
      "",
      "",
      "",
      "",
      "",
      l.quantity ?? "",
      l.unit ?? "",
      visible ? (l.listUnitPrice ?? "") : "",
      visible ? (l.unitPrice ?? "") : "",
      visible && l.amount !== null ? formatMinor(toMinor(l.amount, currency), currency) : "",
      currency,
      currency,
      "",
      "",
      "",
      "",
    ]);
  }
  if (rest.length > 0) yield rest;
}
