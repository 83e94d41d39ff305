import { formatQuantity, parseQuantity, type Quantity } from "../quantity.js";
import { type RoundingMode, roundMoney } from "../rating/currency.js";
import { Dec, ZERO } from "../rating/decimal.js";
import type { Adjustment, RatingResult } from "../rating/engine.js";
import { monthOf } from "../time.js";
import { INVOICE_LINE_KINDS, type InvoiceLineKind } from "./types.js";

/**
 * Invoice computation, pure: rating results in, invoice lines and totals out (docs/billing.md).
 *
 * An invoice for period P covers the usage *reported* in P (DESIGN §3.7). For P's own usage it
 * charges P rated on what was reported before P's end. For each earlier usage period Q with usage
 * reported in P it charges the difference between Q rated on everything reported before P's end
 * and what earlier invoices already charged for Q, split in two: the effect of prices or terms
 * that changed since (`adjustment` lines: Q rated on what was known at P's start, minus what was
 * invoiced) and the effect of the late usage itself (`priorPeriodUsage` lines, and term lines of
 * Q: Q rated on everything, minus Q rated on what was known). Over all invoices what Q is charged
 * therefore telescopes to Q rated on all its usage: nothing is charged twice, finalized invoices
 * are never edited.
 */

/** What a line charges for, across invoices: usage, or one of the offer terms. */
export type ChargeKind = "usage" | Adjustment["kind"];

/** One charge of a usage period, the unit in which invoices are compared and corrected. */
export interface Charge {
  charge: ChargeKind;
  subscriptionId: string | null;
  offerId: string | null;
  meterId: string | null;
  priceSheetId: string | null;
  tier: string | null;
  /** Usage charges only. */
  quantity: Quantity | null;
  listUnitPrice: Dec | null;
  unitPrice: Dec | null;
  /** In the currency's minor units (already rounded). */
  amount: Dec;
  usageStart: number | null;
  usageEnd: number | null;
}

/** The charges of a rating result, usage lines and term adjustments alike. */
export function chargesOf(r: RatingResult, offerId: string): Charge[] {
  const out: Charge[] = r.lines.map((l) => ({
    charge: "usage",
    subscriptionId: l.subscriptionId,
    offerId,
    meterId: l.meterId,
    priceSheetId: l.priceSheetId,
    tier: l.tier,
    quantity: l.quantity,
    listUnitPrice: l.listUnitPrice,
    unitPrice: l.unitPrice,
    amount: l.amount,
    usageStart: l.usageStart,
    usageEnd: l.usageEnd,
  }));
  for (const a of r.adjustments)
    out.push({
      charge: a.kind,
      subscriptionId: null,
      offerId,
      meterId: a.kind === "commitmentDiscount" ? a.meterId : null,
      priceSheetId: a.priceSheetId,
      tier: null,
      quantity: null,
      listUnitPrice: null,
      unitPrice: null,
      amount: a.amount,
      usageStart: null,
      usageEnd: null,
    });
  return out;
}

const keyOf = (c: Charge) =>
  [c.charge, c.offerId, c.subscriptionId, c.meterId, c.priceSheetId, c.tier]
    .map((x) => x ?? "")
    .join("\u0001");

/** Charges with the same key (kind, offer, subscription, meter, price sheet, tier) summed. */
export function sumCharges(charges: readonly Charge[]): Map<string, Charge> {
  const out = new Map<string, Charge>();
  for (const c of charges) {
    const k = keyOf(c);
    const acc = out.get(k);
    if (!acc) {
      out.set(k, { ...c });
      continue;
    }
    acc.amount = acc.amount.plus(c.amount);
    if (c.quantity !== null) acc.quantity = (acc.quantity ?? 0n) + c.quantity;
    acc.unitPrice ??= c.unitPrice;
    acc.listUnitPrice ??= c.listUnitPrice;
    if (c.usageStart !== null) acc.usageStart = Math.min(acc.usageStart ?? c.usageStart, c.usageStart);
    if (c.usageEnd !== null) acc.usageEnd = Math.max(acc.usageEnd ?? c.usageEnd, c.usageEnd);
  }
  return out;
}

/** `a − b` per key; keys whose quantity and amount both cancel are left out. */
export function diffCharges(a: readonly Charge[], b: readonly Charge[]): Charge[] {
  const sa = sumCharges(a);
  const sb = sumCharges(b);
  const out: Charge[] = [];
  for (const k of new Set([...sa.keys(), ...sb.keys()])) {
    const x = sa.get(k);
    const y = sb.get(k);
    const base = x ?? y!;
    const quantity =
      base.quantity === null && (y?.quantity ?? null) === null
        ? null
        : (x?.quantity ?? 0n) - (y?.quantity ?? 0n);
    const amount = (x?.amount ?? ZERO).minus(y?.amount ?? ZERO);
    if (amount.isZero() && (quantity === null || quantity === 0n)) continue;
    out.push({ ...base, quantity, amount });
  }
  return out;
}

export interface PriorPeriod {
  /** `YYYY-MM` of the usage period. */
  usagePeriod: string;
  /** What earlier invoices of the account charged for it. */
  invoiced: readonly Charge[];
  /** It rated on what was reported before this invoice's period began. */
  known: readonly Charge[];
  /** It rated on everything reported before this invoice's period ends. */
  now: readonly Charge[];
  /** Usage dates of the late usage, per subscription and meter (`sub\u0001meter`). */
  lateUsage: ReadonlyMap<string, { start: number; end: number }>;
}

export interface ComputedLine extends Charge {
  kind: InvoiceLineKind;
  usagePeriod: string;
}

/** The invoice's lines, before numbering: the period's own charges, then the corrections of earlier periods. */
export function invoiceCharges(period: string, current: readonly Charge[], prior: readonly PriorPeriod[]) {
  const lines: ComputedLine[] = [];
  // The period's usage charges are one per key already (one rating per pool, a subscription in one
  // pool); its terms may repeat (two credits of a version) and are summed.
  // (The charges are the caller's fresh rating results: completed in place, not copied.)
  for (const c of current)
    if (c.charge === "usage") lines.push(Object.assign(c, { kind: "usage" as const, usagePeriod: period }));
  for (const c of sumCharges(current.filter((x) => x.charge !== "usage")).values())
    if (!c.amount.isZero()) lines.push({ ...c, kind: c.charge, usagePeriod: period });
  for (const q of prior) {
    for (const c of diffCharges(q.known, q.invoiced))
      lines.push({ ...c, kind: "adjustment", usagePeriod: q.usagePeriod });
    for (const c of diffCharges(q.now, q.known)) {
      const late =
        c.subscriptionId && c.meterId ? q.lateUsage.get(`${c.subscriptionId}\u0001${c.meterId}`) : undefined;
      lines.push({
        ...c,
        kind: c.charge === "usage" ? "priorPeriodUsage" : c.charge,
        usagePeriod: q.usagePeriod,
        ...(late ? { usageStart: late.start, usageEnd: late.end } : {}),
      });
    }
  }
  return lines;
}

const cmp = (a: string | null, b: string | null) => {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
};

const tierOrder = (t: string | null) => (t === null ? -2 : t === "included" ? -1 : Number(t));

/**
 * The invoice's order: lines of a subscription first (by subscription, meter, usage period, kind,
 * price sheet and tier), then the offer terms (by usage period, kind, offer).
 */
export function orderLines<L extends ComputedLine>(lines: readonly L[]): L[] {
  return [...lines].sort(
    (a, b) =>
      cmp(a.subscriptionId, b.subscriptionId) ||
      cmp(a.meterId, b.meterId) ||
      cmp(a.usagePeriod, b.usagePeriod) ||
      INVOICE_LINE_KINDS.indexOf(a.kind) - INVOICE_LINE_KINDS.indexOf(b.kind) ||
      cmp(a.offerId, b.offerId) ||
      cmp(a.priceSheetId, b.priceSheetId) ||
      tierOrder(a.tier) - tierOrder(b.tier),
  );
}

export interface Totals {
  subtotal: Dec;
  tax: Dec;
  total: Dec;
}

/**
 * Subtotal = Σ line amounts (each already in minor units); tax = subtotal × rate / 100, rounded
 * once to the currency's minor units with the operator's rounding mode; total = subtotal + tax.
 */
export function totals(
  amounts: readonly Dec[],
  taxRate: Dec | null,
  currency: string,
  rounding: RoundingMode,
): Totals {
  const subtotal = amounts.reduce((s, a) => s.plus(a), ZERO);
  const tax = taxRate === null ? ZERO : roundMoney(subtotal.times(taxRate).div(100), currency, rounding);
  return { subtotal, tax, total: subtotal.plus(tax) };
}

/** A stored quantity, which may be negative on a correction line. */
export function parseSignedQuantity(text: string): Quantity {
  const neg = text.startsWith("-");
  const q = parseQuantity(neg ? text.slice(1) : text);
  if (typeof q === "string") throw new Error(`stored quantity '${text}' ${q}`);
  return neg ? -q : q;
}

export const quantityText = (q: Quantity | null) => (q === null ? null : formatQuantity(q));

/** `YYYY-MM` → its UTC month [start, end). */
export function periodBounds(period: string): { start: number; end: number } {
  const y = Number(period.slice(0, 4));
  const m = Number(period.slice(5, 7));
  return { start: Date.UTC(y, m - 1, 1), end: Date.UTC(y, m, 1) };
}

export const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;

/** The period after `p`. */
export const nextPeriod = (p: string): string => monthOf(periodBounds(p).end);

export { Dec };
