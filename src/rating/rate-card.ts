import { LosslessNumber, stringify } from "lossless-json";
import { formatQuantity } from "../domain/quantity.js";
import { type RoundingMode, roundMoney } from "../domain/rating/currency.js";
import { Dec, decimalText } from "../domain/rating/decimal.js";
import { type Markup, versionAt } from "../domain/rating/engine.js";
import { formatEffectiveDate, type OfferTerm } from "../domain/rating/price-sheet.js";
import type { OfferRow } from "../offers/repository.js";
import type { Store } from "../storage/database.js";
import type { MeterCatalogue } from "./meters.js";
import { loadVersions } from "./price-sheets.js";

/** A JSON number written with exactly these digits (decimal strings become numbers on the wire without a double in between). */
const num = (d: Dec | string) => new LosslessNumber(typeof d === "string" ? d : decimalText(d));

export interface RateCardQuery {
  offer: OfferRow;
  currency: string;
  locale: string;
  at: number;
  markup: Markup | undefined;
  rounding: RoundingMode;
}

export type RateCardResult =
  | { ok: true; json: string }
  | { ok: false; reason: "NoPriceSheetInCurrency" | "NoPriceSheetInForce" };

/**
 * Azure's `ResourceRateCardInfo` for an offer in a currency: the version of its price sheet in
 * force at `at`, every price multiplied by the subscription's markup (exactly: prices are not
 * rounded, amounts of recurring charges are, to minor units). Numbers are written with their exact
 * digits. tally's catalogue has no regions or meter tags, so `MeterRegion` is "" (Azure's value for
 * meters that are not regional) and `MeterTags` is []. Rates are pre-tax (`IsTaxIncluded: false`).
 */
export async function rateCardJson(
  store: Store,
  cat: MeterCatalogue,
  q: RateCardQuery,
): Promise<RateCardResult> {
  const { rows, versions } = await loadVersions(store.db, cat, q.offer.id, q.currency);
  if (rows.length === 0) return { ok: false, reason: "NoPriceSheetInCurrency" };
  const v = versionAt(versions, q.at);
  if (!v) return { ok: false, reason: "NoPriceSheetInForce" };
  const factor = q.markup ? new Dec(1).plus(q.markup.percent.div(100)) : new Dec(1);
  const effective = formatEffectiveDate(v.effectiveFrom);
  const meters = [...v.meters.values()]
    .sort((a, b) => (a.meterId < b.meterId ? -1 : 1))
    .map((m) => {
      const info = cat.get(m.meterKey);
      return {
        MeterId: m.meterId,
        MeterName: info?.name ?? "",
        MeterCategory: info?.category ?? "",
        MeterSubCategory: info?.subCategory ?? "",
        Unit: info?.unit ?? "",
        MeterTags: [],
        MeterRegion: "",
        MeterRates: Object.fromEntries(
          m.tiers.map((t) => [formatQuantity(t.start), num(t.unitPrice.times(factor))]),
        ),
        EffectiveDate: effective,
        IncludedQuantity: num(formatQuantity(m.included)),
      };
    });
  const body = {
    Currency: q.currency,
    Locale: q.locale,
    IsTaxIncluded: false,
    OfferTerms: v.terms.map((t) => termJson(t, effective, factor, q)),
    Meters: meters,
  };
  return { ok: true, json: stringify(body) ?? "{}" };
}

function termJson(t: OfferTerm, effective: string, factor: Dec, q: RateCardQuery): Record<string, unknown> {
  switch (t.name) {
    case "Monetary Credit":
      return {
        Name: t.name,
        EffectiveDate: effective,
        Credit: num(t.credit),
        ExcludedMeterIds: [...t.excludedMeterIds],
      };
    case "Monetary Commitment":
      return {
        Name: t.name,
        EffectiveDate: effective,
        TieredDiscount: Object.fromEntries(
          t.tieredDiscount.map((x) => [decimalText(x.threshold), num(x.percent)]),
        ),
        ExcludedMeterIds: [...t.excludedMeterIds],
      };
    case "Recurring Charge":
      return {
        Name: t.name,
        EffectiveDate: effective,
        RecurringCharge: num(roundMoney(t.recurringCharge.times(factor), q.currency, q.rounding)),
      };
  }
}
