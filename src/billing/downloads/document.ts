import { toMinor } from "../../domain/billing/allocation.js";
import type { EstimateView, InvoiceLine, InvoiceView } from "../../domain/billing/types.js";
import { parseQuantity, type Quantity } from "../../domain/quantity.js";
import type { BillingDocument } from "../ports.js";

export type UsageDocument = BillingDocument<InvoiceView | EstimateView>;

/** Lines that charge for usage: they are spread over the daily rows of their group. */
export const isUsageLine = (l: InvoiceLine) => l.kind === "usage" || l.kind === "priorPeriodUsage";

/** Meter ids are matched case-insensitively (the catalogue's spelling varies: GUIDs, hex). */
export const meterKey = (meterId: string) => meterId.toUpperCase();

/** The key of an allocation group: subscription × meter × usage period. */
export const groupKey = (subscriptionId: string, meterId: string, period: string) =>
  `${subscriptionId}|${meterKey(meterId)}|${period}`;

export const lineQuantity = (l: InvoiceLine): Quantity => {
  const q = l.quantity === null ? 0n : parseQuantity(l.quantity);
  return typeof q === "string" ? 0n : q;
};

/**
 * The document's lines the caller may see: those of the subscriptions it was given, and the
 * account-wide ones (no subscription).
 */
export function visibleLines(doc: UsageDocument): InvoiceLine[] {
  const subs = new Set(doc.subscriptions.map((s) => s.id));
  return doc.document.lines.filter((l) => l.subscriptionId === null || subs.has(l.subscriptionId));
}

export interface LineGroup {
  lines: InvoiceLine[];
  /** Σ amounts, in minor units. */
  amount: bigint;
}

/** Usage lines by subscription × meter × usage period (a meter's tiers and included part together). */
export function usageGroups(doc: UsageDocument, lines: InvoiceLine[]): Map<string, LineGroup> {
  const out = new Map<string, LineGroup>();
  for (const l of lines) {
    if (!isUsageLine(l) || l.subscriptionId === null || l.meterId === null) continue;
    const key = groupKey(l.subscriptionId, l.meterId, l.usagePeriod ?? doc.document.period);
    let g = out.get(key);
    if (!g) {
      g = { lines: [], amount: 0n };
      out.set(key, g);
    }
    g.lines.push(l);
    // Hidden charges (null amounts) allocate nothing: the files leave money out then.
    g.amount += toMinor(l.amount ?? "0", doc.document.currency);
  }
  return out;
}

/** Enrollment placement and offer of each subscription, as its lines carry them. */
export function subscriptionInfo(lines: InvoiceLine[]) {
  const out = new Map<string, { offerId: string; departmentId: string; costCenter: string }>();
  for (const l of lines) {
    if (l.subscriptionId === null || out.has(l.subscriptionId)) continue;
    out.set(l.subscriptionId, {
      offerId: l.offerId ?? "",
      departmentId: l.departmentId ?? "",
      costCenter: l.costCenter ?? "",
    });
  }
  return out;
}

export const isInvoice = (d: InvoiceView | EstimateView): d is InvoiceView => !("estimate" in d);

/** `YYYY-MM-DD` of an ISO instant, or "" (the files write dates, not instants). */
export const isoDate = (iso: string | null) => (iso === null ? "" : iso.slice(0, 10));

/** The last day of a period whose end is exclusive, as Azure writes period end dates. */
export const lastDay = (endIso: string) => new Date(Date.parse(endIso) - 1).toISOString().slice(0, 10);

const SAFE = /[^A-Za-z0-9._-]+/g;

/** A file name part that survives every file system and the Content-Disposition header. */
export const fileSafe = (s: string) => s.replace(SAFE, "_").slice(0, 80);
