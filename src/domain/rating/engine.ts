import { meterKey } from "../ids.js";
import { formatQuantity, type Quantity } from "../quantity.js";
import { floorDay } from "../time.js";
import { type RoundingMode, roundMoney } from "./currency.js";
import { Dec, ZERO } from "./decimal.js";
import { commitmentPercent, type MeterPrice, type OfferTerm, type PriceSheetVersion } from "./price-sheet.js";

/**
 * The rating engine: usage quantities, price sheet versions and offer terms in, charge lines out.
 * Pure and exact (bigint quantities, decimal prices); amounts are rounded once per line, to the
 * currency's minor units, with the operator's rounding mode. See docs/rating.md for the rules.
 */

/** Usage of one meter by one subscription in one usage window (an aggregate hour or day). */
export interface UsageQuantity {
  /** Empty for hypothetical usage. */
  subscriptionId: string;
  meterKey: string;
  meterId: string;
  /** Usage window; its start decides the price sheet version and the order of graduation. */
  start: number;
  end: number;
  quantity: Quantity;
}

/** A reseller's percentage on the price sheet (negative: a discount), and the scope it was set at. */
export interface Markup {
  scope: string;
  percent: Dec;
}

export interface RatingInput {
  currency: string;
  /** The billing period [start, end): tiers, included quantities and terms count per period. */
  period: { start: number; end: number };
  /** Every version of the offer's price sheet in this currency (any order). */
  versions: readonly PriceSheetVersion[];
  /** The period's usage up to the end of what is rated, for every subscription rated together. */
  usage: readonly UsageQuantity[];
  /** Usage before this instant advances tiers and included quantities but is not charged (default: period start). */
  chargeFrom?: number;
  /** Apply the period's offer terms (credits, commitment, recurring charges): only when the whole period is rated. */
  applyTerms: boolean;
  markup?: Markup;
  rounding: RoundingMode;
}

export const INCLUDED_TIER = "included";

export interface ChargeLine {
  subscriptionId: string;
  meterId: string;
  priceSheetId: string;
  effectiveFrom: number;
  /** The tier's start quantity, or `included` for the period's free quantity. */
  tier: string;
  quantity: Quantity;
  /** The price sheet's unit price. */
  listUnitPrice: Dec;
  /** The unit price charged: the list price with the markup applied (exact, never rounded). */
  unitPrice: Dec;
  /** quantity × unitPrice, rounded to the currency's minor units. */
  amount: Dec;
  usageStart: number;
  usageEnd: number;
}

export type UnpricedReason = "NoPriceSheetInForce" | "MeterNotOnPriceSheet";

/** Usage no price applies to: reported, never silently free. */
export interface UnpricedUsage {
  subscriptionId: string;
  meterId: string;
  priceSheetId: string | null;
  quantity: Quantity;
  usageStart: number;
  usageEnd: number;
  reason: UnpricedReason;
}

export type Adjustment =
  | { kind: "recurringCharge"; priceSheetId: string; amount: Dec }
  | {
      kind: "commitmentDiscount";
      priceSheetId: string;
      meterId: string;
      percent: Dec;
      base: Dec;
      amount: Dec;
    }
  | {
      kind: "commitmentShortfall";
      priceSheetId: string;
      committedAmount: Dec;
      eligibleAmount: Dec;
      amount: Dec;
    }
  | { kind: "credit"; priceSheetId: string; credit: Dec; amount: Dec; unused: Dec };

export interface RatingResult {
  currency: string;
  period: { start: number; end: number };
  chargeFrom: number;
  /** The version whose terms were applied (null when none was, or terms were not applied). */
  termsPriceSheetId: string | null;
  termsApplied: boolean;
  markup: Markup | null;
  lines: ChargeLine[];
  unpriced: UnpricedUsage[];
  adjustments: Adjustment[];
  /** Sum of the charge lines. */
  usageAmount: Dec;
  /** Sum of the adjustments (recurring charges and shortfalls add, discounts and credits subtract). */
  adjustmentsAmount: Dec;
  total: Dec;
}

const byStart = (a: PriceSheetVersion, b: PriceSheetVersion) => a.effectiveFrom - b.effectiveFrom;

/** The version in force at `t`: the latest whose effective date is not after it. */
export function versionAt(sorted: readonly PriceSheetVersion[], t: number): PriceSheetVersion | undefined {
  let found: PriceSheetVersion | undefined;
  for (const v of sorted) {
    if (v.effectiveFrom > t) break;
    found = v;
  }
  return found;
}

/**
 * The version whose terms govern a billing period: the one in force at the period's start, or,
 * when the first version starts inside the period, that one. A version starting mid-period
 * changes prices from its date but terms only from the next period.
 */
export function termsVersion(
  sorted: readonly PriceSheetVersion[],
  period: { start: number; end: number },
): PriceSheetVersion | undefined {
  return versionAt(sorted, period.start) ?? sorted.find((v) => v.effectiveFrom < period.end);
}

interface LineAcc {
  line: Omit<ChargeLine, "amount" | "unitPrice">;
  order: [string, string, number, bigint];
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Usage is taken in usage-time order by UTC day, then by subscription id and meter: positions in
 * the graduated tiers and the included quantity are assigned in that order, per meter, pooled over
 * everything rated together. Hourly and daily aggregates therefore rate identically.
 */
function usageOrder(a: UsageQuantity, b: UsageQuantity): number {
  return (
    floorDay(a.start) - floorDay(b.start) ||
    cmp(a.subscriptionId, b.subscriptionId) ||
    cmp(a.meterKey, b.meterKey) ||
    a.start - b.start
  );
}

export function rate(input: RatingInput): RatingResult {
  const versions = [...input.versions].sort(byStart);
  const chargeFrom = input.chargeFrom ?? input.period.start;
  const factor = input.markup ? new Dec(1).plus(input.markup.percent.div(100)) : new Dec(1);
  // Lines by subscription, then meter, then version and tier: nested maps keyed by the strings the
  // usage already holds, so that the hot loop builds no key strings (a monthly run rates millions).
  const lines = new Map<string, Map<string, Map<string, Map<bigint, LineAcc>>>>();
  const allLines: LineAcc[] = [];
  const unpriced = new Map<string, UnpricedUsage>();
  const position = new Map<string, Quantity>();

  /** `tierStart` null: the included quantity. */
  const add = (u: UsageQuantity, v: PriceSheetVersion, tierStart: bigint | null, price: Dec, q: bigint) => {
    if (q <= 0n) return;
    let bySub = lines.get(u.subscriptionId);
    if (!bySub) {
      bySub = new Map();
      lines.set(u.subscriptionId, bySub);
    }
    let byMeter = bySub.get(u.meterKey);
    if (!byMeter) {
      byMeter = new Map();
      bySub.set(u.meterKey, byMeter);
    }
    let byVersion = byMeter.get(v.id);
    if (!byVersion) {
      byVersion = new Map();
      byMeter.set(v.id, byVersion);
    }
    const key = tierStart ?? -1n;
    const acc = byVersion.get(key);
    if (acc) {
      acc.line.quantity += q;
      acc.line.usageStart = Math.min(acc.line.usageStart, u.start);
      acc.line.usageEnd = Math.max(acc.line.usageEnd, u.end);
      return;
    }
    const created: LineAcc = {
      line: {
        subscriptionId: u.subscriptionId,
        meterId: u.meterId,
        priceSheetId: v.id,
        effectiveFrom: v.effectiveFrom,
        tier: tierStart === null ? INCLUDED_TIER : formatQuantity(tierStart),
        quantity: q,
        listUnitPrice: price,
        usageStart: u.start,
        usageEnd: u.end,
      },
      order: [u.subscriptionId, u.meterId, v.effectiveFrom, key],
    };
    byVersion.set(key, created);
    allLines.push(created);
  };

  for (const u of [...input.usage].sort(usageOrder)) {
    if (u.quantity <= 0n) continue;
    const p0 = position.get(u.meterKey) ?? 0n;
    const p1 = p0 + u.quantity;
    position.set(u.meterKey, p1);
    if (u.start < chargeFrom) continue;
    const v = versionAt(versions, u.start);
    const price = v?.meters.get(u.meterKey);
    if (!v || !price) {
      const reason: UnpricedReason = v ? "MeterNotOnPriceSheet" : "NoPriceSheetInForce";
      const key = `${u.subscriptionId}\u0001${u.meterKey}\u0001${v?.id ?? ""}`;
      const acc = unpriced.get(key);
      if (acc) {
        acc.quantity += u.quantity;
        acc.usageStart = Math.min(acc.usageStart, u.start);
        acc.usageEnd = Math.max(acc.usageEnd, u.end);
      } else {
        unpriced.set(key, {
          subscriptionId: u.subscriptionId,
          meterId: u.meterId,
          priceSheetId: v?.id ?? null,
          quantity: u.quantity,
          usageStart: u.start,
          usageEnd: u.end,
          reason,
        });
      }
      continue;
    }
    graduate(u, v, price, p0, p1, add);
  }

  const charged: ChargeLine[] = allLines
    .sort((a, b) => {
      const [s1, m1, e1, t1] = a.order;
      const [s2, m2, e2, t2] = b.order;
      return cmp(s1, s2) || cmp(m1, m2) || e1 - e2 || (t1 < t2 ? -1 : t1 > t2 ? 1 : 0);
    })
    .map(({ line }) => {
      const unitPrice = line.listUnitPrice.times(factor);
      const exact = new Dec(formatQuantity(line.quantity)).times(unitPrice);
      return { ...line, unitPrice, amount: roundMoney(exact, input.currency, input.rounding) };
    });

  const tv = input.applyTerms ? termsVersion(versions, input.period) : undefined;
  const adjustments = tv ? applyTerms(tv, charged, factor, input) : [];
  const usageAmount = charged.reduce((s, l) => s.plus(l.amount), ZERO);
  const adjustmentsAmount = adjustments.reduce((s, a) => s.plus(a.amount), ZERO);
  return {
    currency: input.currency,
    period: input.period,
    chargeFrom,
    termsPriceSheetId: tv?.id ?? null,
    termsApplied: tv !== undefined,
    markup: input.markup ?? null,
    lines: charged,
    unpriced: [...unpriced.values()].sort(
      (a, b) =>
        cmp(a.subscriptionId, b.subscriptionId) || cmp(a.meterId, b.meterId) || a.usageStart - b.usageStart,
    ),
    adjustments,
    usageAmount,
    adjustmentsAmount,
    total: usageAmount.plus(adjustmentsAmount),
  };
}

/**
 * Splits the quantity occupying positions [p0, p1) of the period across the included quantity
 * (positions [0, included)) and the tiers (a position at or above a tier's start and below the
 * next tier's start is charged at that tier's price). Tier starts count the whole period's
 * quantity, the included part too.
 */
function graduate(
  u: UsageQuantity,
  v: PriceSheetVersion,
  price: MeterPrice,
  p0: bigint,
  p1: bigint,
  add: (u: UsageQuantity, v: PriceSheetVersion, start: bigint | null, price: Dec, q: bigint) => void,
): void {
  const inc = price.included;
  if (inc > p0) add(u, v, null, ZERO, (p1 < inc ? p1 : inc) - p0);
  const from = p0 > inc ? p0 : inc;
  const tiers = price.tiers;
  for (let i = 0; i < tiers.length; i++) {
    const lo = tiers[i]!.start;
    const hi = tiers[i + 1]?.start;
    const a = from > lo ? from : lo;
    const b = hi === undefined || p1 < hi ? p1 : hi;
    if (b > a) add(u, v, lo, tiers[i]!.unitPrice, b - a);
  }
}

/**
 * The period's offer terms, in a fixed order: recurring charges (marked up like every price),
 * the commitment's discount on each eligible meter and any shortfall below the committed amount,
 * then credits, each covering eligible usage charges (after discounts) up to its amount. Credits
 * never make a total negative; what they do not cover is reported unused, and lapses.
 */
function applyTerms(
  tv: PriceSheetVersion,
  lines: readonly ChargeLine[],
  factor: Dec,
  input: RatingInput,
): Adjustment[] {
  const round = (d: Dec) => roundMoney(d, input.currency, input.rounding);
  const out: Adjustment[] = [];
  const meters = new Map<string, { meterId: string; remaining: Dec }>();
  for (const l of lines) {
    const k = meterKey(l.meterId) ?? l.meterId;
    const m = meters.get(k);
    if (m) m.remaining = m.remaining.plus(l.amount);
    else meters.set(k, { meterId: l.meterId, remaining: l.amount });
  }
  const ordered = [...meters.entries()].sort((a, b) => cmp(a[1].meterId, b[1].meterId));
  const eligible = (excluded: readonly string[]) => {
    const keys = new Set(excluded.map((id) => meterKey(id) ?? id));
    return ordered.filter(([k]) => !keys.has(k)).map(([, m]) => m);
  };

  for (const t of tv.terms)
    if (t.name === "Recurring Charge")
      out.push({
        kind: "recurringCharge",
        priceSheetId: tv.id,
        amount: round(t.recurringCharge.times(factor)),
      });

  const commitment = tv.terms.find(
    (t): t is Extract<OfferTerm, { name: "Monetary Commitment" }> => t.name === "Monetary Commitment",
  );
  if (commitment) {
    const percent = commitmentPercent(commitment) ?? ZERO;
    const within = eligible(commitment.excludedMeterIds);
    for (const m of within) {
      if (percent.isZero() || m.remaining.lte(0)) continue;
      const discount = round(m.remaining.times(percent).div(100));
      if (discount.isZero()) continue;
      out.push({
        kind: "commitmentDiscount",
        priceSheetId: tv.id,
        meterId: m.meterId,
        percent,
        base: m.remaining,
        amount: discount.neg(),
      });
      m.remaining = m.remaining.minus(discount);
    }
    const eligibleAmount = within.reduce((s, m) => s.plus(m.remaining), ZERO);
    if (eligibleAmount.lt(commitment.committedAmount)) {
      out.push({
        kind: "commitmentShortfall",
        priceSheetId: tv.id,
        committedAmount: commitment.committedAmount,
        eligibleAmount,
        amount: commitment.committedAmount.minus(eligibleAmount),
      });
    }
  }

  for (const t of tv.terms) {
    if (t.name !== "Monetary Credit") continue;
    let left = t.credit;
    for (const m of eligible(t.excludedMeterIds)) {
      if (left.isZero()) break;
      const take = Dec.min(left, Dec.max(m.remaining, ZERO));
      m.remaining = m.remaining.minus(take);
      left = left.minus(take);
    }
    out.push({
      kind: "credit",
      priceSheetId: tv.id,
      credit: t.credit,
      amount: t.credit.minus(left).neg(),
      unused: left,
    });
  }
  return out;
}
