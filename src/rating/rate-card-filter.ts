/**
 * The RateCard API's OData `$filter`: `OfferDurableId eq '…' and Currency eq '…' and Locale eq '…'
 * and RegionInfo eq '…'`. Azure supports only `eq` and `and` and requires all four fields; names
 * match case-insensitively (OData keywords too), values are single-quoted with `''` for a quote.
 */
export interface RateCardFilter {
  offerDurableId: string;
  currency: string;
  locale: string;
  regionInfo: string;
}

const FIELDS = {
  offerdurableid: "OfferDurableId",
  currency: "Currency",
  locale: "Locale",
  regioninfo: "RegionInfo",
} as const;
type Field = (typeof FIELDS)[keyof typeof FIELDS];
const ALL: readonly Field[] = Object.values(FIELDS);
const KEY: Record<Field, keyof RateCardFilter> = {
  OfferDurableId: "offerDurableId",
  Currency: "currency",
  Locale: "locale",
  RegionInfo: "regionInfo",
};

const EXPECTED = "OfferDurableId eq '…' and Currency eq '…' and Locale eq '…' and RegionInfo eq '…'";

/** Parses the filter, or answers what is wrong with it (missing fields named). */
export function parseRateCardFilter(text: string | undefined): RateCardFilter | string {
  if (text === undefined || text.trim() === "")
    return `$filter is required: ${EXPECTED} (missing: ${ALL.join(", ")}).`;
  const found = new Map<Field, string>();
  let rest = text.trim();
  for (let first = true; rest !== ""; first = false) {
    if (!first) {
      const and = /^and\s+/i.exec(rest);
      if (!and) return `$filter: expected 'and' before '${clip(rest)}'; only 'eq' and 'and' are supported.`;
      rest = rest.slice(and[0].length);
    }
    const m = /^([A-Za-z]+)\s+([A-Za-z]+)\s+'((?:[^']|'')*)'\s*/.exec(rest);
    if (!m) return `$filter: expected Field eq 'value' at '${clip(rest)}' (the form is ${EXPECTED}).`;
    const [whole, name, op, quoted] = m as unknown as [string, string, string, string];
    const field = (FIELDS as Record<string, Field>)[name.toLowerCase()];
    if (field === undefined)
      return `$filter: '${name}' is not a RateCard filter field; the fields are ${ALL.join(", ")}.`;
    if (op.toLowerCase() !== "eq") return `$filter: '${op}' is not supported; only 'eq' and 'and' are.`;
    if (found.has(field)) return `$filter: ${field} is given twice.`;
    found.set(field, quoted.replaceAll("''", "'"));
    rest = rest.slice(whole.length);
  }
  const missing = ALL.filter((f) => !found.has(f));
  if (missing.length) return `$filter must give ${ALL.join(", ")}; missing: ${missing.join(", ")}.`;
  const out = {} as RateCardFilter;
  for (const [f, v] of found) out[KEY[f]] = v;
  return out;
}

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);
