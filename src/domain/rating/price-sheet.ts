import type { FieldIssue } from "../errors.js";
import { formatQuantity, parseQuantity, type Quantity } from "../quantity.js";
import { DAY, parseInstant } from "../time.js";
import { minorUnits } from "./currency.js";
import { type Dec, decimalText, parseDecimal } from "./decimal.js";

/**
 * A price sheet version: the prices of meters for one offer and currency from `effectiveFrom` (a
 * UTC midnight) until the next version of the same offer and currency, and the offer terms that
 * come with them. Values here are parsed and exact: quantities as fixed-point bigints, prices and
 * amounts as decimals.
 */
export interface PriceSheetVersion {
  id: string;
  effectiveFrom: number;
  /** By meter key (32 upper-case hex digits). */
  meters: ReadonlyMap<string, MeterPrice>;
  terms: readonly OfferTerm[];
}

/** One tier of Azure's tier map `{"0": p0, "100": p1}`: from `start` (cumulative quantity in the period) on, `unitPrice`. */
export interface Tier {
  start: Quantity;
  unitPrice: Dec;
}

export interface MeterPrice {
  meterKey: string;
  /** The meter id as the catalogue writes it. */
  meterId: string;
  /** Sorted by start; the first starts at 0. */
  tiers: readonly Tier[];
  /** Free quantity per billing period. */
  included: Quantity;
}

export interface MonetaryCredit {
  name: "Monetary Credit";
  /** Credit per billing period, in the currency. */
  credit: Dec;
  excludedMeterIds: readonly string[];
}

export interface MonetaryCommitment {
  name: "Monetary Commitment";
  /** The amount committed per billing period: it picks the discount and is the least billed for eligible usage. */
  committedAmount: Dec;
  /** Commitment threshold → discount percentage, sorted by threshold. */
  tieredDiscount: readonly { threshold: Dec; percent: Dec }[];
  excludedMeterIds: readonly string[];
}

export interface RecurringCharge {
  name: "Recurring Charge";
  /** Charged once per billing period. */
  recurringCharge: Dec;
}

export type OfferTerm = MonetaryCredit | MonetaryCommitment | RecurringCharge;
export const TERM_NAMES = ["Monetary Credit", "Monetary Commitment", "Recurring Charge"] as const;

/** Limits of what a price sheet may say, so that every figure stays exact and bounded. */
export const PRICE_LIMITS = { integerDigits: 15, fractionDigits: 15 } as const;
export const PERCENT_LIMITS = { integerDigits: 3, fractionDigits: 6 } as const;
export const MAX_TIERS = 100;

type Issues = FieldIssue[];
const issue = (issues: Issues, field: string, reason: string) => {
  issues.push({ field, reason });
};

/**
 * Parses Azure's tier map (tier start quantity → unit price). Starts are quantities (at most 10
 * fractional digits), the map must start at 0, and two keys may not name the same quantity
 * (`"100"` and `"100.0"`).
 */
export function parseRates(raw: unknown, field: string, issues: Issues): Tier[] | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    issue(issues, field, 'must be an object of tier start → unit price, e.g. {"0": "1.99", "100": "0.99"}');
    return undefined;
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) issue(issues, field, "must give at least the tier starting at 0");
  if (entries.length > MAX_TIERS) issue(issues, field, `must have at most ${MAX_TIERS} tiers`);
  const tiers: Tier[] = [];
  let ok = entries.length > 0 && entries.length <= MAX_TIERS;
  for (const [key, value] of entries) {
    const start = parseQuantity(key);
    const price = parseDecimal(value, PRICE_LIMITS);
    if (typeof start === "string") issue(issues, `${field}.${key}`, `tier start ${start}`);
    if (typeof price === "string") issue(issues, `${field}.${key}`, `unit price ${price}`);
    if (typeof start === "string" || typeof price === "string") {
      ok = false;
      continue;
    }
    if (tiers.some((t) => t.start === start)) {
      issue(issues, `${field}.${key}`, `names the same tier start as another key (${formatQuantity(start)})`);
      ok = false;
    }
    tiers.push({ start, unitPrice: price });
  }
  tiers.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  if (ok && tiers[0]!.start !== 0n) {
    issue(issues, field, 'must have a tier starting at "0"');
    ok = false;
  }
  return ok ? tiers : undefined;
}

/** A non-negative amount of money in the currency's minor units. */
export function parseMoney(raw: unknown, currency: string, field: string, issues: Issues): Dec | undefined {
  const d = parseDecimal(raw, {
    integerDigits: PRICE_LIMITS.integerDigits,
    fractionDigits: minorUnits(currency),
  });
  if (typeof d === "string") {
    issue(
      issues,
      field,
      `${d}${/after the decimal point/.test(d) ? ` (${currency} has ${minorUnits(currency)} minor units)` : ""}`,
    );
    return undefined;
  }
  return d;
}

function parsePercent(raw: unknown, field: string, issues: Issues): Dec | undefined {
  const d = parseDecimal(raw, PERCENT_LIMITS);
  if (typeof d === "string") {
    issue(issues, field, d);
    return undefined;
  }
  if (d.gt(100)) {
    issue(issues, field, "must be at most 100");
    return undefined;
  }
  return d;
}

function parseExcluded(
  raw: unknown,
  field: string,
  resolveMeter: (id: string) => string | undefined,
  issues: Issues,
): string[] | undefined {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    issue(issues, field, "must be an array of meter ids");
    return undefined;
  }
  const out: string[] = [];
  let bad = false;
  raw.forEach((id, i) => {
    const resolved = typeof id === "string" ? resolveMeter(id) : undefined;
    if (resolved === undefined) {
      issue(issues, `${field}[${i}]`, "is not a meter of the catalogue");
      bad = true;
    } else if (!out.includes(resolved)) out.push(resolved);
  });
  return bad ? undefined : out;
}

/**
 * Parses offer terms as the native API writes them (`{"name": "Monetary Credit", "credit": "100",
 * "excludedMeterIds": [...]}`, …). `resolveMeter` maps a meter id to the catalogue's spelling, or
 * undefined when the catalogue does not have it. At most one Monetary Commitment per version.
 */
export function parseTerms(
  raw: unknown,
  currency: string,
  resolveMeter: (id: string) => string | undefined,
  issues: Issues,
): OfferTerm[] | undefined {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    issue(issues, "terms", "must be an array of offer terms");
    return undefined;
  }
  const before = issues.length;
  const terms: OfferTerm[] = [];
  raw.forEach((t, i) => {
    const f = `terms[${i}]`;
    if (typeof t !== "object" || t === null) {
      issue(issues, f, "must be an object");
      return;
    }
    const o = t as Record<string, unknown>;
    const known = (keys: string[]) => {
      for (const k of Object.keys(o))
        if (k !== "name" && !keys.includes(k))
          issue(issues, `${f}.${k}`, `is not a field of a ${String(o.name)} term`);
    };
    switch (o.name) {
      case "Monetary Credit": {
        known(["credit", "excludedMeterIds"]);
        const credit = parseMoney(o.credit, currency, `${f}.credit`, issues);
        const excluded = parseExcluded(o.excludedMeterIds, `${f}.excludedMeterIds`, resolveMeter, issues);
        if (credit && excluded) terms.push({ name: "Monetary Credit", credit, excludedMeterIds: excluded });
        return;
      }
      case "Monetary Commitment": {
        known(["committedAmount", "tieredDiscount", "excludedMeterIds"]);
        if (terms.some((x) => x.name === "Monetary Commitment"))
          issue(issues, f, "a price sheet version may have one Monetary Commitment");
        const mark = issues.length;
        const committed = parseMoney(o.committedAmount, currency, `${f}.committedAmount`, issues);
        const excluded = parseExcluded(o.excludedMeterIds, `${f}.excludedMeterIds`, resolveMeter, issues);
        const td = o.tieredDiscount;
        const tiers: { threshold: Dec; percent: Dec }[] = [];
        if (typeof td !== "object" || td === null || Array.isArray(td) || Object.keys(td).length === 0) {
          issue(
            issues,
            `${f}.tieredDiscount`,
            'must map committed amounts to discount percentages, e.g. {"0": "0", "10000": "5"}',
          );
        } else {
          for (const [k, v] of Object.entries(td as Record<string, unknown>)) {
            const threshold = parseMoney(k, currency, `${f}.tieredDiscount.${k}`, issues);
            const percent = parsePercent(v, `${f}.tieredDiscount.${k}`, issues);
            if (threshold && tiers.some((x) => x.threshold.eq(threshold)))
              issue(issues, `${f}.tieredDiscount.${k}`, "names the same threshold as another key");
            if (threshold && percent) tiers.push({ threshold, percent });
          }
          tiers.sort((a, b) => a.threshold.comparedTo(b.threshold));
        }
        if (committed && excluded && issues.length === mark)
          terms.push({
            name: "Monetary Commitment",
            committedAmount: committed,
            tieredDiscount: tiers,
            excludedMeterIds: excluded,
          });
        return;
      }
      case "Recurring Charge": {
        known(["recurringCharge"]);
        const amount = parseMoney(o.recurringCharge, currency, `${f}.recurringCharge`, issues);
        if (amount) terms.push({ name: "Recurring Charge", recurringCharge: amount });
        return;
      }
      default:
        issue(issues, `${f}.name`, `must be one of ${TERM_NAMES.join(", ")}`);
    }
  });
  return issues.length === before ? terms : undefined;
}

/** The discount percentage a commitment earns: that of the highest threshold not above the committed amount. */
export function commitmentPercent(c: MonetaryCommitment): Dec | undefined {
  let found: Dec | undefined;
  for (const t of c.tieredDiscount) if (t.threshold.lte(c.committedAmount)) found = t.percent;
  return found;
}

/** Terms in the native API's JSON shape, decimals as exact strings (how they are stored, too). */
export function termsToJson(terms: readonly OfferTerm[], currency: string): Record<string, unknown>[] {
  return terms.map((t) => termToJson(t, currency));
}

function termToJson(t: OfferTerm, currency: string): Record<string, unknown> {
  const money = (d: Dec) => d.toFixed(minorUnits(currency));
  switch (t.name) {
    case "Monetary Credit":
      return { name: t.name, credit: money(t.credit), excludedMeterIds: [...t.excludedMeterIds] };
    case "Monetary Commitment":
      return {
        name: t.name,
        committedAmount: money(t.committedAmount),
        tieredDiscount: Object.fromEntries(
          t.tieredDiscount.map((x) => [money(x.threshold), decimalText(x.percent)]),
        ),
        excludedMeterIds: [...t.excludedMeterIds],
      };
    case "Recurring Charge":
      return { name: t.name, recurringCharge: money(t.recurringCharge) };
  }
}

/** A tier map in its JSON shape: canonical tier starts → canonical unit prices, in tier order. */
export function ratesToJson(tiers: readonly Tier[]): Record<string, string> {
  return Object.fromEntries(tiers.map((t) => [formatQuantity(t.start), decimalText(t.unitPrice)]));
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * A version's effective date: `YYYY-MM-DD`, or an ISO 8601 date-time that falls on a UTC
 * midnight. Versions change at day boundaries so that every usage day (and hour) is priced by
 * exactly one version, whichever aggregate granularity is rated.
 */
export function parseEffectiveDate(s: string): number | string {
  const d = DATE.exec(s.trim());
  let t: number | string;
  if (d) {
    const [y, m, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
    t = Date.UTC(y, m - 1, day);
    if (new Date(t).getUTCDate() !== day || m < 1 || m > 12) return `${s} is not a date`;
  } else {
    t = parseInstant(s.trim());
    if (typeof t === "string") return "must be a date (YYYY-MM-DD) or a date-time at UTC midnight";
  }
  if (t % DAY !== 0) return "must be a UTC midnight: versions change at day boundaries";
  if (t < Date.UTC(2000, 0, 1) || t >= Date.UTC(10000, 0, 1)) return "must be between 2000 and 9999";
  return t;
}

/** The form effective dates are written in: `2026-11-01T00:00:00Z`, as Azure's RateCard does. */
export const formatEffectiveDate = (t: number): string => `${new Date(t).toISOString().slice(0, 19)}Z`;
