import { type Insertable, type Kysely, type Selectable, sql } from "kysely";
import type { OfferScope } from "../offers/repository.js";
import type { DB, MarkupTable, PriceSheetMeterTable, PriceSheetTable } from "../storage/schema.js";

export type PriceSheetRow = Selectable<PriceSheetTable> & { effective_until: number | null };
export type PriceSheetMeterRow = Selectable<PriceSheetMeterTable>;
export type MarkupRow = Selectable<MarkupTable>;

/** Price sheet columns plus the start of the next version of the same offer and currency. */
function sheets(db: Kysely<DB>) {
  return db
    .selectFrom("price_sheets as p")
    .selectAll("p")
    .select((eb) =>
      eb
        .selectFrom("price_sheets as n")
        .select((e) => e.fn.min("n.effective_from").as("m"))
        .whereRef("n.offer_id", "=", "p.offer_id")
        .whereRef("n.currency", "=", "p.currency")
        .whereRef("n.effective_from", ">", "p.effective_from")
        .as("effective_until"),
    );
}

const withUntil = (r: Selectable<PriceSheetTable> & { effective_until: unknown }): PriceSheetRow => ({
  ...r,
  effective_until: r.effective_until === null ? null : Number(r.effective_until),
});

export async function findPriceSheet(db: Kysely<DB>, id: string): Promise<PriceSheetRow | undefined> {
  const r = await sheets(db).where("p.id", "=", id).executeTakeFirst();
  return r ? withUntil(r) : undefined;
}

export interface PriceSheetFilter {
  /** Keyset cursor: offer, currency, effective date. */
  after?: [string, string, number];
  limit: number;
  offerId?: string;
  currency?: string;
  /** Only the version of each offer and currency in force at this instant. */
  effectiveAt?: number;
  scope: OfferScope;
}

export async function listPriceSheetRows(db: Kysely<DB>, f: PriceSheetFilter): Promise<PriceSheetRow[]> {
  let q = sheets(db)
    .orderBy("p.offer_id")
    .orderBy("p.currency")
    .orderBy("p.effective_from")
    .limit(f.limit + 1);
  if (f.after !== undefined) {
    const [o, c, e] = f.after;
    q = q.where(sql<boolean>`(p.offer_id, p.currency, p.effective_from) > (${o}, ${c}, ${e})`);
  }
  if (f.offerId !== undefined) q = q.where("p.offer_id", "=", f.offerId);
  if (f.currency !== undefined) q = q.where("p.currency", "=", f.currency);
  if (f.effectiveAt !== undefined) {
    const at = f.effectiveAt;
    q = q
      .where("p.effective_from", "<=", at)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom("price_sheets as n")
              .select("n.id")
              .whereRef("n.offer_id", "=", "p.offer_id")
              .whereRef("n.currency", "=", "p.currency")
              .whereRef("n.effective_from", ">", "p.effective_from")
              .where("n.effective_from", "<=", at),
          ),
        ),
      );
  }
  const scope = f.scope;
  if (scope !== "all") {
    q = q.where((eb) =>
      eb.or([
        ...(scope.providerIds.length
          ? [
              eb(
                "p.offer_id",
                "in",
                eb.selectFrom("offers").select("id").where("provider_id", "in", scope.providerIds),
              ),
            ]
          : []),
        ...(scope.offerIds.length ? [eb("p.offer_id", "in", scope.offerIds)] : []),
        eb.lit(false),
      ]),
    );
  }
  return (await q.execute()).map(withUntil);
}

/** Every version of an offer's price sheet in a currency, oldest first. */
export async function versionRows(
  db: Kysely<DB>,
  offerId: string,
  currency: string,
): Promise<PriceSheetRow[]> {
  const rows = await sheets(db)
    .where("p.offer_id", "=", offerId)
    .where("p.currency", "=", currency)
    .orderBy("p.effective_from")
    .execute();
  return rows.map(withUntil);
}

/** The currencies an offer has price sheets in. */
export async function offerCurrencies(db: Kysely<DB>, offerId: string): Promise<string[]> {
  const rows = await db
    .selectFrom("price_sheets")
    .select("currency")
    .distinct()
    .where("offer_id", "=", offerId)
    .orderBy("currency")
    .execute();
  return rows.map((r) => r.currency);
}

export async function meterRows(
  db: Kysely<DB>,
  priceSheetIds: readonly string[],
): Promise<PriceSheetMeterRow[]> {
  if (priceSheetIds.length === 0) return [];
  return db
    .selectFrom("price_sheet_meters")
    .selectAll()
    .where("price_sheet_id", "in", priceSheetIds)
    .orderBy("price_sheet_id")
    .orderBy("meter_key")
    .execute();
}

export async function meterCounts(
  db: Kysely<DB>,
  priceSheetIds: readonly string[],
): Promise<Map<string, number>> {
  if (priceSheetIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("price_sheet_meters")
    .select((eb) => ["price_sheet_id", eb.fn.countAll<number>().as("n")])
    .where("price_sheet_id", "in", priceSheetIds)
    .groupBy("price_sheet_id")
    .execute();
  return new Map(rows.map((r) => [r.price_sheet_id, Number(r.n)]));
}

export async function insertPriceSheet(
  db: Kysely<DB>,
  row: Insertable<PriceSheetTable>,
  meters: readonly Insertable<PriceSheetMeterTable>[],
): Promise<void> {
  await db.insertInto("price_sheets").values(row).execute();
  for (let i = 0; i < meters.length; i += 500)
    await db
      .insertInto("price_sheet_meters")
      .values(meters.slice(i, i + 500))
      .execute();
}

export async function deletePriceSheetRows(db: Kysely<DB>, id: string): Promise<void> {
  await db.deleteFrom("price_sheet_meters").where("price_sheet_id", "=", id).execute();
  await db.deleteFrom("price_sheets").where("id", "=", id).execute();
}

export const findMarkup = (db: Kysely<DB>, id: string) =>
  db.selectFrom("markups").selectAll().where("id", "=", id).executeTakeFirst();

export const markupsByScope = (db: Kysely<DB>, scopes: readonly string[]) =>
  scopes.length === 0
    ? Promise.resolve([] as MarkupRow[])
    : db.selectFrom("markups").selectAll().where("scope", "in", scopes).execute();

/** Markups, optionally only those of some provider scopes (`providerScopes`), in scope order. */
export function listMarkupRows(
  db: Kysely<DB>,
  f: { after?: string; limit: number; scopes?: readonly string[] },
) {
  let q = db
    .selectFrom("markups")
    .selectAll()
    .orderBy("scope")
    .limit(f.limit + 1);
  if (f.after !== undefined) q = q.where("scope", ">", f.after);
  if (f.scopes !== undefined)
    q = f.scopes.length ? q.where("scope", "in", f.scopes) : q.where(sql<boolean>`1 = 0`);
  return q.execute();
}
