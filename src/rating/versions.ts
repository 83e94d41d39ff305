import type { FieldIssue } from "../domain/errors.js";
import { formatQuantity, parseQuantity } from "../domain/quantity.js";
import { currencyCode } from "../domain/rating/currency.js";
import {
  type MeterPrice,
  type OfferTerm,
  type PriceSheetVersion,
  parseEffectiveDate,
  parseRates,
  parseTerms,
  ratesToJson,
  termsToJson,
} from "../domain/rating/price-sheet.js";
import { lookupMeter, type MeterCatalogue, meterResolver } from "./meters.js";
import type { PriceSheetMeterRow, PriceSheetRow } from "./repository.js";

/** The most meters one version may price (the Azure Stack catalogue has under a hundred). */
export const MAX_METERS = 10_000;

/** A version as a client writes it (native API body, or one group of CSV rows). */
export interface VersionInput {
  offerId: string;
  currency: string;
  effectiveDate: string;
  meters: readonly { meterId: unknown; rates: unknown; includedQuantity?: unknown }[];
  terms?: unknown;
}

export interface ValidVersion {
  offerId: string;
  currency: string;
  effectiveFrom: number;
  meters: MeterPrice[];
  terms: OfferTerm[];
}

/**
 * Checks a whole version and answers it parsed, or every problem with its field path
 * (`meters[3].rates.100: unit price must not be negative`).
 */
export function validateVersion(input: VersionInput, cat: MeterCatalogue): ValidVersion | FieldIssue[] {
  const issues: FieldIssue[] = [];
  const currency = currencyCode(input.currency);
  if (currency === undefined)
    issues.push({
      field: "currency",
      reason: `'${input.currency}' is not an ISO 4217 currency tally prices in`,
    });
  const effectiveFrom = parseEffectiveDate(input.effectiveDate);
  if (typeof effectiveFrom === "string") issues.push({ field: "effectiveDate", reason: effectiveFrom });
  if (input.meters.length > MAX_METERS)
    issues.push({ field: "meters", reason: `must have at most ${MAX_METERS} meters` });
  const meters: MeterPrice[] = [];
  const seen = new Map<string, number>();
  input.meters.forEach((m, i) => {
    const f = `meters[${i}]`;
    const meter = typeof m.meterId === "string" ? lookupMeter(cat, m.meterId) : undefined;
    if (!meter) {
      issues.push({
        field: `${f}.meterId`,
        reason: `'${String(m.meterId)}' is not a meter of the catalogue`,
      });
    } else if (seen.has(meter.key)) {
      issues.push({
        field: `${f}.meterId`,
        reason: `meter ${meter.id} is already priced by meters[${seen.get(meter.key)}]`,
      });
    } else seen.set(meter.key, i);
    const tiers = parseRates(m.rates, `${f}.rates`, issues);
    const included =
      m.includedQuantity === undefined || m.includedQuantity === "" ? 0n : parseQuantity(m.includedQuantity);
    if (typeof included === "string") issues.push({ field: `${f}.includedQuantity`, reason: included });
    if (meter && tiers && typeof included !== "string")
      meters.push({ meterKey: meter.key, meterId: meter.id, tiers, included });
  });
  const terms =
    currency === undefined ? undefined : parseTerms(input.terms, currency, meterResolver(cat), issues);
  if (issues.length || currency === undefined || typeof effectiveFrom === "string" || !terms) return issues;
  return { offerId: input.offerId, currency, effectiveFrom, meters, terms };
}

/** Stored rows → the engine's version (stored data was validated when written). */
export function toVersion(
  row: PriceSheetRow,
  meters: readonly PriceSheetMeterRow[],
  cat: MeterCatalogue,
): PriceSheetVersion {
  const issues: FieldIssue[] = [];
  const map = new Map<string, MeterPrice>();
  for (const m of meters) {
    const tiers = parseRates(JSON.parse(m.rates), m.meter_key, issues) ?? [];
    const included = parseQuantity(m.included_quantity);
    map.set(m.meter_key, {
      meterKey: m.meter_key,
      meterId: cat.get(m.meter_key)?.id ?? m.meter_key,
      tiers,
      included: typeof included === "string" ? 0n : included,
    });
  }
  const terms =
    parseTerms(JSON.parse(row.terms), row.currency, (id) => meterResolver(cat)(id) ?? id, issues) ?? [];
  if (issues.length) throw new Error(`price sheet ${row.id} holds invalid data: ${JSON.stringify(issues)}`);
  return { id: row.id, effectiveFrom: row.effective_from, meters: map, terms };
}

/** The storage columns of a validated version's meters and terms. */
export function storedForm(v: ValidVersion) {
  return {
    terms: JSON.stringify(termsToJson(v.terms, v.currency)),
    meters: v.meters.map((m) => ({
      meter_key: m.meterKey,
      rates: JSON.stringify(ratesToJson(m.tiers)),
      included_quantity: formatQuantity(m.included),
    })),
  };
}
