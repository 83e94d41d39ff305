import type { Kysely } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { decodeCursor, encodeCursor, type Page } from "../domain/cursor.js";
import { DomainError, type FieldIssue, notFound } from "../domain/errors.js";
import { newGuid } from "../domain/ids.js";
import { formatQuantity } from "../domain/quantity.js";
import { diffVersions, type PriceSheetDiff } from "../domain/rating/diff.js";
import {
  formatEffectiveDate,
  type PriceSheetVersion,
  ratesToJson,
  termsToJson,
} from "../domain/rating/price-sheet.js";
import { toIso } from "../domain/time.js";
import type { OfferScope } from "../offers/repository.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import type { DB } from "../storage/schema.js";
import { type MeterCatalogue, meterCatalogue } from "./meters.js";
import {
  deletePriceSheetRows,
  findPriceSheet,
  insertPriceSheet,
  listPriceSheetRows,
  meterCounts,
  meterRows,
  type PriceSheetRow,
  versionRows,
} from "./repository.js";
import { storedForm, toVersion, type ValidVersion, type VersionInput, validateVersion } from "./versions.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

export interface PriceSheetSummary {
  id: string;
  offerId: string;
  currency: string;
  effectiveDate: string;
  /** When the next version takes over; null while this is the latest. */
  effectiveUntil: string | null;
  meterCount: number;
  terms: Record<string, unknown>[];
  createdAt: string;
  createdBy: string;
}

export interface PriceSheetMeter {
  meterId: string;
  meterName: string;
  unit: string;
  category: string;
  rates: Record<string, string>;
  includedQuantity: string;
}

export interface PriceSheet extends PriceSheetSummary {
  meters: PriceSheetMeter[];
}

const summary = (r: PriceSheetRow, meterCount: number): PriceSheetSummary => ({
  id: r.id,
  offerId: r.offer_id,
  currency: r.currency,
  effectiveDate: formatEffectiveDate(r.effective_from),
  effectiveUntil: r.effective_until === null ? null : formatEffectiveDate(r.effective_until),
  meterCount,
  terms: JSON.parse(r.terms) as Record<string, unknown>[],
  createdAt: toIso(r.created_at),
  createdBy: r.created_by,
});

function full(r: PriceSheetRow, v: PriceSheetVersion, cat: MeterCatalogue): PriceSheet {
  const meters = [...v.meters.values()]
    .map((m) => {
      const info = cat.get(m.meterKey);
      return {
        meterId: m.meterId,
        meterName: info?.name ?? "",
        unit: info?.unit ?? "",
        category: info?.category ?? "",
        rates: ratesToJson(m.tiers),
        includedQuantity: formatQuantity(m.included),
      };
    })
    .sort((a, b) => (a.meterId < b.meterId ? -1 : 1));
  return { ...summary(r, meters.length), meters };
}

export const invalidVersion = (issues: FieldIssue[]) =>
  new DomainError(
    "ValidationFailed",
    issues.length === 1
      ? `${issues[0]!.field}: ${issues[0]!.reason}`
      : `the price sheet has ${issues.length} problems; nothing was saved.`,
    issues,
  );

/**
 * Stores a validated version and audits it with its full content (a price change is exactly what
 * the audit log is for). `AlreadyExists` when the offer already has a version in that currency
 * from that date: versions are never overwritten.
 */
export async function insertVersion(
  db: Kysely<DB>,
  actor: Actor,
  now: number,
  v: ValidVersion,
): Promise<string> {
  const id = newGuid();
  const stored = storedForm(v);
  await insertPriceSheet(
    db,
    {
      id,
      offer_id: v.offerId,
      currency: v.currency,
      effective_from: v.effectiveFrom,
      terms: stored.terms,
      created_at: now,
      created_by: actor.principalId,
    },
    stored.meters.map((m) => ({ price_sheet_id: id, ...m })),
  );
  await appendAudit(db, actor, now, {
    action: "prices/write",
    target: `/priceSheets/${id}`,
    details: {
      op: "create",
      offerId: v.offerId,
      currency: v.currency,
      effectiveDate: formatEffectiveDate(v.effectiveFrom),
      meters: v.meters.map((m) => ({
        meterId: m.meterId,
        rates: ratesToJson(m.tiers),
        includedQuantity: formatQuantity(m.included),
      })),
      terms: termsToJson(v.terms, v.currency),
    },
  });
  return id;
}

export const versionExists = (v: { offerId: string; currency: string; effectiveFrom: number }) =>
  new DomainError(
    "AlreadyExists",
    `offer '${v.offerId}' already has a ${v.currency} price sheet effective ${formatEffectiveDate(v.effectiveFrom)}; versions are never overwritten: create one with another effective date.`,
  );

export async function createPriceSheet(deps: Deps, actor: Actor, input: VersionInput): Promise<PriceSheet> {
  const cat = await meterCatalogue(deps.store.db);
  const v = validateVersion(input, cat);
  if (Array.isArray(v)) throw invalidVersion(v);
  const now = deps.clock.now();
  try {
    const id = await deps.store.db.transaction().execute((trx) => insertVersion(trx, actor, now, v));
    return getPriceSheet(deps, id, cat);
  } catch (e) {
    if (isUniqueViolation(e)) throw versionExists(v);
    throw e;
  }
}

export async function getPriceSheet(deps: Deps, id: string, cat?: MeterCatalogue): Promise<PriceSheet> {
  const row = await findPriceSheet(deps.store.db, id);
  if (!row) throw notFound("price sheet", id);
  const catalogue = cat ?? (await meterCatalogue(deps.store.db));
  return full(row, toVersion(row, await meterRows(deps.store.db, [id]), catalogue), catalogue);
}

export async function listPriceSheets(
  deps: Deps,
  opts: { cursor?: string; limit: number; offerId?: string; currency?: string; effectiveAt?: number },
  scope: OfferScope,
): Promise<Page<PriceSheetSummary>> {
  const { cursor, ...f } = opts;
  const after = cursor === undefined ? undefined : decodeCursor(cursor, ["string", "string", "number"]);
  const rows = await listPriceSheetRows(deps.store.db, {
    ...f,
    scope,
    ...(after ? { after: [...after] } : {}),
  });
  const more = rows.length > opts.limit;
  const page = more ? rows.slice(0, opts.limit) : rows;
  const counts = await meterCounts(
    deps.store.db,
    page.map((r) => r.id),
  );
  const last = page.at(-1);
  return {
    items: page.map((r) => summary(r, counts.get(r.id) ?? 0)),
    nextCursor: more && last ? encodeCursor([last.offer_id, last.currency, last.effective_from]) : null,
  };
}

/** Every version of an offer's price sheet in a currency, ready for the rating engine. */
export async function loadVersions(
  db: Kysely<DB>,
  cat: MeterCatalogue,
  offerId: string,
  currency: string,
): Promise<{ rows: PriceSheetRow[]; versions: PriceSheetVersion[] }> {
  const rows = await versionRows(db, offerId, currency);
  const meters = await meterRows(
    db,
    rows.map((r) => r.id),
  );
  const byId = new Map<string, typeof meters>();
  for (const m of meters) byId.set(m.price_sheet_id, [...(byId.get(m.price_sheet_id) ?? []), m]);
  return { rows, versions: rows.map((r) => toVersion(r, byId.get(r.id) ?? [], cat)) };
}

export interface PriceSheetDiffAnswer extends PriceSheetDiff {
  base: PriceSheetSummary | null;
  target: PriceSheetSummary;
}

/**
 * The changes from `baseId` (default: the version this one follows, of the same offer and
 * currency) to `id`. `canSee` decides whether the caller may read the base version's offer.
 */
export async function diffPriceSheets(
  deps: Deps,
  id: string,
  baseId: string | undefined,
  canSee: (offerId: string) => Promise<boolean>,
): Promise<PriceSheetDiffAnswer> {
  const db = deps.store.db;
  const cat = await meterCatalogue(db);
  const target = await findPriceSheet(db, id);
  if (!target) throw notFound("price sheet", id);
  let base: PriceSheetRow | undefined;
  if (baseId !== undefined) {
    base = await findPriceSheet(db, baseId);
    if (!base || !(await canSee(base.offer_id))) throw notFound("price sheet", baseId);
  } else {
    const all = await versionRows(db, target.offer_id, target.currency);
    base = all.filter((r) => r.effective_from < target.effective_from).at(-1);
  }
  const rows = await meterRows(db, base ? [target.id, base.id] : [target.id]);
  const tv = toVersion(
    target,
    rows.filter((m) => m.price_sheet_id === target.id),
    cat,
  );
  const bv = base
    ? toVersion(
        base,
        rows.filter((m) => m.price_sheet_id === base.id),
        cat,
      )
    : undefined;
  return {
    base: base && bv ? summary(base, bv.meters.size) : null,
    target: summary(target, tv.meters.size),
    ...diffVersions(bv, base?.currency ?? target.currency, tv, target.currency),
  };
}

/**
 * Withdraws a version that has not come into force yet. Once its effective date has passed it
 * may have priced usage, so it stays as history: publish a newer version instead.
 */
export async function deletePriceSheet(deps: Deps, actor: Actor, id: string): Promise<void> {
  const now = deps.clock.now();
  await deps.store.db.transaction().execute(async (trx) => {
    const row = await findPriceSheet(trx, id);
    if (!row) throw notFound("price sheet", id);
    if (row.effective_from <= now)
      throw new DomainError(
        "Conflict",
        `price sheet '${id}' has been in force since ${formatEffectiveDate(row.effective_from)} and is kept as history; publish a newer version instead.`,
      );
    const meters = await meterRows(trx, [id]);
    await deletePriceSheetRows(trx, id);
    await appendAudit(trx, actor, now, {
      action: "prices/write",
      target: `/priceSheets/${id}`,
      details: {
        op: "delete",
        offerId: row.offer_id,
        currency: row.currency,
        effectiveDate: formatEffectiveDate(row.effective_from),
        meters: meters.map((m) => ({
          meterKey: m.meter_key,
          rates: JSON.parse(m.rates),
          includedQuantity: m.included_quantity,
        })),
        terms: JSON.parse(row.terms),
      },
    });
  });
}
