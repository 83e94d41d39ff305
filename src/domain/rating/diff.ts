import { formatQuantity } from "../quantity.js";
import { decimalText } from "./decimal.js";
import { type MeterPrice, type PriceSheetVersion, ratesToJson, termsToJson } from "./price-sheet.js";

export interface MeterPriceJson {
  meterId: string;
  rates: Record<string, string>;
  includedQuantity: string;
}

export interface TierChange {
  tier: string;
  before: string | null;
  after: string | null;
}

export interface MeterChange {
  meterId: string;
  before: MeterPriceJson;
  after: MeterPriceJson;
  /** Tiers whose price appeared, disappeared or changed. */
  tiers: TierChange[];
  includedQuantity: { before: string; after: string } | null;
}

export interface PriceSheetDiff {
  added: MeterPriceJson[];
  removed: MeterPriceJson[];
  changed: MeterChange[];
  unchanged: number;
  terms: { before: Record<string, unknown>[]; after: Record<string, unknown>[]; changed: boolean };
}

export const meterPriceJson = (p: MeterPrice): MeterPriceJson => ({
  meterId: p.meterId,
  rates: ratesToJson(p.tiers),
  includedQuantity: formatQuantity(p.included),
});

/**
 * What changes from `base` to `target`, meter by meter (compared by value: `"1.50"` and `"1.5"` are
 * the same price) and for the terms. Without a base, everything is added.
 */
export function diffVersions(
  base: PriceSheetVersion | undefined,
  baseCurrency: string,
  target: PriceSheetVersion,
  targetCurrency: string,
): PriceSheetDiff {
  const out: PriceSheetDiff = {
    added: [],
    removed: [],
    changed: [],
    unchanged: 0,
    terms: { before: [], after: [], changed: false },
  };
  const before = base?.meters ?? new Map<string, MeterPrice>();
  const keys = [...new Set([...before.keys(), ...target.meters.keys()])];
  const rows = keys.map((k) => ({ b: before.get(k), a: target.meters.get(k) }));
  rows.sort((x, y) => ((x.a ?? x.b)!.meterId < (y.a ?? y.b)!.meterId ? -1 : 1));
  for (const { b, a } of rows) {
    if (!b) out.added.push(meterPriceJson(a!));
    else if (!a) out.removed.push(meterPriceJson(b));
    else {
      const tiers = tierChanges(b, a);
      const inc =
        b.included === a.included
          ? null
          : { before: formatQuantity(b.included), after: formatQuantity(a.included) };
      if (tiers.length === 0 && inc === null) out.unchanged++;
      else
        out.changed.push({
          meterId: a.meterId,
          before: meterPriceJson(b),
          after: meterPriceJson(a),
          tiers,
          includedQuantity: inc,
        });
    }
  }
  const tb = base ? termsToJson(base.terms, baseCurrency) : [];
  const ta = termsToJson(target.terms, targetCurrency);
  out.terms = { before: tb, after: ta, changed: JSON.stringify(tb) !== JSON.stringify(ta) };
  return out;
}

function tierChanges(b: MeterPrice, a: MeterPrice): TierChange[] {
  const starts = [...new Set([...b.tiers, ...a.tiers].map((t) => t.start))].sort((x, y) =>
    x < y ? -1 : x > y ? 1 : 0,
  );
  const out: TierChange[] = [];
  for (const s of starts) {
    const pb = b.tiers.find((t) => t.start === s)?.unitPrice;
    const pa = a.tiers.find((t) => t.start === s)?.unitPrice;
    if (pb && pa && pb.eq(pa)) continue;
    out.push({
      tier: formatQuantity(s),
      before: pb ? decimalText(pb) : null,
      after: pa ? decimalText(pa) : null,
    });
  }
  return out;
}
