import type { Insertable, Kysely, Selectable } from "kysely";
import type { DB, OfferTable } from "../storage/schema.js";

export interface Offer {
  id: string;
  displayName: string;
  providerId: string;
  createdAt: string;
  updatedAt: string;
}

export type OfferRow = Selectable<OfferTable>;

export const toOffer = (r: OfferRow): Offer => ({
  id: r.id,
  displayName: r.display_name,
  providerId: r.provider_id,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

/**
 * The offers a principal may see: all, or those owned by some providers plus some offers by id
 * (the offers of subscriptions it holds a role on).
 */
export type OfferScope =
  | "all"
  | { readonly providerIds: readonly string[]; readonly offerIds: readonly string[] };

export const findOffer = (db: Kysely<DB>, id: string) =>
  db.selectFrom("offers").selectAll().where("id", "=", id).executeTakeFirst();

export function listOfferRows(
  db: Kysely<DB>,
  f: { after?: string; limit: number; providerId?: string; scope: OfferScope },
) {
  let q = db
    .selectFrom("offers")
    .selectAll()
    .orderBy("id")
    .limit(f.limit + 1);
  if (f.after !== undefined) q = q.where("id", ">", f.after);
  if (f.providerId !== undefined) q = q.where("provider_id", "=", f.providerId);
  const scope = f.scope;
  if (scope !== "all") {
    q = q.where((eb) =>
      eb.or([
        ...(scope.providerIds.length ? [eb("provider_id", "in", scope.providerIds)] : []),
        ...(scope.offerIds.length ? [eb("id", "in", scope.offerIds)] : []),
        eb.lit(false),
      ]),
    );
  }
  return q.execute();
}

export async function insertOffer(db: Kysely<DB>, row: Insertable<OfferTable>): Promise<void> {
  await db.insertInto("offers").values(row).execute();
}

/** A subscription on the offer (deleted ones included: they keep their history), if any. */
export const subscriptionOnOffer = (db: Kysely<DB>, offerId: string) =>
  db.selectFrom("subscriptions").select("id").where("offer_id", "=", offerId).limit(1).executeTakeFirst();
