import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import type { Actor } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { DomainError, type FieldIssue } from "../domain/errors.js";
import { formatQuantity, parseQuantity, type Quantity } from "../domain/quantity.js";
import { currencyCode } from "../domain/rating/currency.js";
import { type Dec, parseDecimal } from "../domain/rating/decimal.js";
import {
  formatEffectiveDate,
  MAX_TIERS,
  type OfferTerm,
  PRICE_LIMITS,
  parseEffectiveDate,
} from "../domain/rating/price-sheet.js";
import type { OfferScope } from "../offers/repository.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import { lookupMeter, meterCatalogue } from "./meters.js";
import { insertVersion, loadVersions, versionExists } from "./price-sheets.js";
import { listPriceSheetRows, meterRows } from "./repository.js";
import { MAX_METERS, type ValidVersion } from "./versions.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

/** The price sheet CSV: one row per meter and tier. */
export const CSV_COLUMNS = [
  "offerId",
  "currency",
  "effectiveDate",
  "meterId",
  "tierStart",
  "unitPrice",
  "includedQuantity",
] as const;
type Column = (typeof CSV_COLUMNS)[number];

/** Most problems listed in one answer; a file with more is usually in the wrong format altogether. */
const MAX_ISSUES = 1000;

export type OfferCheck = "ok" | "missing" | "forbidden";

export interface ImportedVersion {
  id: string | null;
  offerId: string;
  currency: string;
  effectiveDate: string;
  meterCount: number;
  lines: { first: number; last: number };
  /** Where the version's offer terms came from: the version it follows, or none. */
  termsFrom: string | null;
}

export interface ImportResult {
  dryRun: boolean;
  versions: ImportedVersion[];
}

interface Row {
  line: number;
  offerId: string;
  currency: string;
  effectiveFrom: number;
  meterKey: string;
  meterId: string;
  tierStart: Quantity;
  unitPrice: Dec;
  included: Quantity;
}

interface Group {
  offerId: string;
  currency: string;
  effectiveFrom: number;
  rows: Row[];
}

/**
 * Imports price sheet versions from CSV, all or nothing. Every row is checked first (columns,
 * offer and permission, currency, date, meter, tier start, price, included quantity), then every
 * version the rows make (each meter has a tier at 0, no tier twice, one included quantity per
 * meter, the version does not exist yet); any problem rejects the whole file with every bad row
 * named by its line. Rows with the same offer, currency and effective date make one version. A
 * version's offer terms are those of the version it follows (CSV carries prices only; terms are
 * changed through the API).
 */
export async function importPriceSheets(
  deps: Deps,
  actor: Actor,
  text: string,
  opts: { dryRun: boolean; checkOffer: (offerId: string) => Promise<OfferCheck> },
): Promise<ImportResult> {
  const issues: FieldIssue[] = [];
  const records = readCsv(text, issues);
  const cat = await meterCatalogue(deps.store.db);
  const checked = new Map<string, OfferCheck>();
  const rows: Row[] = [];
  let columns: Map<Column, number> | undefined;

  for (const { record, line } of records) {
    if (columns === undefined) {
      columns = readHeader(record, line, issues);
      if (columns === undefined) break;
      continue;
    }
    if (record.length !== CSV_COLUMNS.length) {
      issues.push({
        line,
        field: "(row)",
        reason: `has ${record.length} columns; expected ${CSV_COLUMNS.length}`,
      });
      continue;
    }
    const cell = (c: Column) => record[columns!.get(c)!]!.trim();
    const bad = (field: Column, reason: string) => issues.push({ line, field, reason });
    const before = issues.length;

    const offerId = cell("offerId");
    let check = checked.get(offerId);
    if (check === undefined) {
      check = offerId === "" ? "missing" : await opts.checkOffer(offerId);
      checked.set(offerId, check);
    }
    if (check === "missing") bad("offerId", `offer '${offerId}' does not exist`);
    if (check === "forbidden") bad("offerId", `you may not change the prices of offer '${offerId}'`);
    const currency = currencyCode(cell("currency"));
    if (currency === undefined)
      bad("currency", `'${cell("currency")}' is not an ISO 4217 currency tally prices in`);
    const effectiveFrom = parseEffectiveDate(cell("effectiveDate"));
    if (typeof effectiveFrom === "string") bad("effectiveDate", effectiveFrom);
    const meter = lookupMeter(cat, cell("meterId"));
    if (!meter) bad("meterId", `'${cell("meterId")}' is not a meter of the catalogue`);
    const tierStart = parseQuantity(cell("tierStart"));
    if (typeof tierStart === "string") bad("tierStart", tierStart);
    const unitPrice = parseDecimal(cell("unitPrice"), PRICE_LIMITS);
    if (typeof unitPrice === "string") bad("unitPrice", unitPrice);
    const included = cell("includedQuantity") === "" ? 0n : parseQuantity(cell("includedQuantity"));
    if (typeof included === "string") bad("includedQuantity", included);
    if (issues.length > before) continue;
    rows.push({
      line,
      offerId,
      currency: currency!,
      effectiveFrom: effectiveFrom as number,
      meterKey: meter!.key,
      meterId: meter!.id,
      tierStart: tierStart as Quantity,
      unitPrice: unitPrice as Dec,
      included: included as Quantity,
    });
  }
  if (columns === undefined && issues.length === 0)
    issues.push({
      line: 1,
      field: "(file)",
      reason: `is empty; the first line must be ${CSV_COLUMNS.join(",")}`,
    });
  else if (columns !== undefined && rows.length === 0 && issues.length === 0)
    issues.push({ line: 2, field: "(file)", reason: "has no price rows" });

  const groups = groupRows(rows);
  const versions: { group: Group; version: ValidVersion; termsFrom: string | null }[] = [];
  const stored = new Map<string, Awaited<ReturnType<typeof loadVersions>>>();
  const lastInFile = new Map<string, { effectiveFrom: number; terms: OfferTerm[]; from: string }>();
  for (const g of groups) {
    const version = buildVersion(g, issues);
    const key = `${g.offerId}\u0001${g.currency}`;
    let mine = stored.get(key);
    if (!mine) {
      mine = await loadVersions(deps.store.db, cat, g.offerId, g.currency);
      stored.set(key, mine);
    }
    const lines = `lines ${g.rows[0]!.line}-${g.rows.at(-1)!.line}`;
    if (mine.rows.some((r) => r.effective_from === g.effectiveFrom))
      issues.push({
        line: g.rows[0]!.line,
        field: "effectiveDate",
        reason: `offer '${g.offerId}' already has a ${g.currency} price sheet effective ${formatEffectiveDate(g.effectiveFrom)} (${lines}); versions are never overwritten`,
      });
    if (!version) continue;
    // The version this one follows, stored or earlier in the same file, lends it its terms.
    const prevStored = mine.versions.filter((v) => v.effectiveFrom < g.effectiveFrom).at(-1);
    const prevFile = lastInFile.get(key);
    const prev =
      prevFile && (!prevStored || prevFile.effectiveFrom > prevStored.effectiveFrom)
        ? prevFile
        : prevStored && {
            effectiveFrom: prevStored.effectiveFrom,
            terms: [...prevStored.terms],
            from: prevStored.id,
          };
    version.terms = prev ? [...prev.terms] : [];
    lastInFile.set(key, {
      effectiveFrom: g.effectiveFrom,
      terms: version.terms,
      from: `the file's ${lines}`,
    });
    versions.push({ group: g, version, termsFrom: prev ? prev.from : null });
  }

  if (issues.length) {
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    const n = new Set(issues.map((i) => i.line)).size;
    throw new DomainError(
      "ValidationFailed",
      `${n} line${n === 1 ? "" : "s"} of the file ${n === 1 ? "is" : "are"} invalid; nothing was imported.`,
      issues.slice(0, MAX_ISSUES),
    );
  }

  const now = deps.clock.now();
  const ids: (string | null)[] = [];
  if (!opts.dryRun) {
    try {
      await deps.store.db.transaction().execute(async (trx) => {
        for (const v of versions) ids.push(await insertVersion(trx, actor, now, v.version));
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw versionExists(versions[ids.length]?.version ?? versions[0]!.version);
      throw e;
    }
  }
  return {
    dryRun: opts.dryRun,
    versions: versions.map((v, i) => ({
      id: opts.dryRun ? null : (ids[i] ?? null),
      offerId: v.group.offerId,
      currency: v.group.currency,
      effectiveDate: formatEffectiveDate(v.group.effectiveFrom),
      meterCount: v.version.meters.length,
      lines: { first: v.group.rows[0]!.line, last: v.group.rows.at(-1)!.line },
      termsFrom: v.termsFrom,
    })),
  };
}

function readCsv(text: string, issues: FieldIssue[]): { record: string[]; line: number }[] {
  try {
    const parsed = parse(text, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
    // `lines` is where a record ends; a quoted field may span lines, so count back to its start.
    return parsed.map(({ record, info }) => ({
      record,
      line: info.lines - (record.join("").split("\n").length - 1),
    }));
  } catch (e) {
    const err = e as { lines?: number; message?: string };
    issues.push({ line: err.lines ?? 1, field: "(csv)", reason: err.message ?? "is not valid CSV" });
    return [];
  }
}

function readHeader(record: string[], line: number, issues: FieldIssue[]): Map<Column, number> | undefined {
  const names = record.map((c) => c.trim());
  const unknown = names.filter((n) => !(CSV_COLUMNS as readonly string[]).includes(n));
  const missing = CSV_COLUMNS.filter((c) => !names.includes(c));
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (unknown.length || missing.length || twice.length) {
    const parts = [
      ...(missing.length ? [`missing ${missing.join(", ")}`] : []),
      ...(unknown.length ? [`unknown ${unknown.join(", ")}`] : []),
      ...(twice.length ? [`repeated ${twice.join(", ")}`] : []),
    ];
    issues.push({
      line,
      field: "(header)",
      reason: `must name the columns ${CSV_COLUMNS.join(",")} (${parts.join("; ")})`,
    });
    return undefined;
  }
  return new Map(CSV_COLUMNS.map((c) => [c, names.indexOf(c)]));
}

function groupRows(rows: readonly Row[]): Group[] {
  const groups = new Map<string, Group>();
  for (const r of rows) {
    const key = `${r.offerId}\u0001${r.currency}\u0001${r.effectiveFrom}`;
    const g = groups.get(key) ?? {
      offerId: r.offerId,
      currency: r.currency,
      effectiveFrom: r.effectiveFrom,
      rows: [],
    };
    g.rows.push(r);
    groups.set(key, g);
  }
  return [...groups.values()].sort(
    (a, b) =>
      (a.offerId < b.offerId ? -1 : a.offerId > b.offerId ? 1 : 0) ||
      (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0) ||
      a.effectiveFrom - b.effectiveFrom,
  );
}

/** One version from its rows, or undefined after naming the rows that make it inconsistent. */
function buildVersion(g: Group, issues: FieldIssue[]): ValidVersion | undefined {
  const before = issues.length;
  const meters = new Map<string, Row[]>();
  for (const r of g.rows) meters.set(r.meterKey, [...(meters.get(r.meterKey) ?? []), r]);
  if (meters.size > MAX_METERS)
    issues.push({
      line: g.rows[0]!.line,
      field: "meterId",
      reason: `a version may price at most ${MAX_METERS} meters`,
    });
  const out: ValidVersion["meters"] = [];
  for (const [meterKey, rows] of meters) {
    const first = rows[0]!;
    for (const r of rows.slice(1)) {
      const dup = rows.find((x) => x !== r && x.line < r.line && x.tierStart === r.tierStart);
      if (dup)
        issues.push({
          line: r.line,
          field: "tierStart",
          reason: `tier ${formatQuantity(r.tierStart)} of meter ${r.meterId} is already on line ${dup.line}`,
        });
      if (r.included !== first.included)
        issues.push({
          line: r.line,
          field: "includedQuantity",
          reason: `differs from line ${first.line} (${formatQuantity(first.included)}); a meter has one included quantity per version`,
        });
    }
    if (!rows.some((r) => r.tierStart === 0n))
      issues.push({
        line: first.line,
        field: "tierStart",
        reason: `meter ${first.meterId} has no row with tierStart 0`,
      });
    if (rows.length > MAX_TIERS)
      issues.push({
        line: first.line,
        field: "tierStart",
        reason: `meter ${first.meterId} has more than ${MAX_TIERS} tiers`,
      });
    const tiers = [...rows]
      .sort((a, b) => (a.tierStart < b.tierStart ? -1 : a.tierStart > b.tierStart ? 1 : 0))
      .map((r) => ({ start: r.tierStart, unitPrice: r.unitPrice }));
    out.push({ meterKey, meterId: first.meterId, tiers, included: first.included });
  }
  if (issues.length > before) return undefined;
  return { offerId: g.offerId, currency: g.currency, effectiveFrom: g.effectiveFrom, meters: out, terms: [] };
}

/**
 * The price sheet versions the filter selects (within what the caller may see) as CSV, one row
 * per meter and tier, ordered by offer, currency, effective date, meter and tier: exactly what the
 * import reads back.
 */
export async function exportPriceSheets(
  deps: Deps,
  filter: { offerId?: string; currency?: string; effectiveAt?: number },
  scope: OfferScope,
): Promise<string> {
  const cat = await meterCatalogue(deps.store.db);
  const out: string[][] = [[...CSV_COLUMNS]];
  let after: [string, string, number] | undefined;
  for (;;) {
    const page = await listPriceSheetRows(deps.store.db, {
      ...filter,
      scope,
      limit: 200,
      ...(after ? { after } : {}),
    });
    const rows = page.slice(0, 200);
    const meters = await meterRows(
      deps.store.db,
      rows.map((r) => r.id),
    );
    for (const r of rows) {
      const date = formatEffectiveDate(r.effective_from).slice(0, 10);
      const mine = meters
        .filter((m) => m.price_sheet_id === r.id)
        .map((m) => ({ m, id: cat.get(m.meter_key)?.id ?? m.meter_key }))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      for (const { m, id } of mine) {
        const rates = Object.entries(JSON.parse(m.rates) as Record<string, string>)
          .map(([start, price]) => ({ start: parseQuantity(start) as Quantity, start_: start, price }))
          .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
        for (const t of rates)
          out.push([r.offer_id, r.currency, date, id, t.start_, t.price, m.included_quantity]);
      }
    }
    if (page.length <= 200) break;
    const last = rows.at(-1)!;
    after = [last.offer_id, last.currency, last.effective_from];
  }
  return stringify(out);
}
