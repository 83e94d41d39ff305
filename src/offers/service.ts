import { type Kysely, sql } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, invalid, notFound } from "../domain/errors.js";
import { findProvider } from "../providers/repository.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import type { DB } from "../storage/schema.js";
import {
  findOffer,
  insertOffer,
  listOfferRows,
  type Offer,
  type OfferScope,
  subscriptionOnOffer,
  toOffer,
} from "./repository.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

/** Every subscription is on an offer; this one exists from the first start and cannot be deleted. */
export const DEFAULT_OFFER_ID = "default";

/** Offer ids: durable ids such as `MS-AZR-0003P`, or the operator's own. */
export const OFFER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function createOffer(
  deps: Deps,
  actor: Actor,
  input: { id: string; displayName: string; providerId: string },
): Promise<Offer> {
  if (!OFFER_ID.test(input.id)) throw invalid("id", "must be 1-64 letters, digits, '.', '_' or '-'");
  const now = deps.clock.now();
  try {
    return await deps.store.db.transaction().execute(async (trx) => {
      const provider = await findProvider(trx, input.providerId);
      if (!provider || provider.deleted_at !== null)
        throw invalid("providerId", `provider '${input.providerId}' does not exist`);
      await insertOffer(trx, {
        id: input.id,
        display_name: input.displayName,
        provider_id: input.providerId,
        created_at: now,
        updated_at: now,
      });
      const created = toOffer((await findOffer(trx, input.id))!);
      await appendAudit(trx, actor, now, {
        action: "offers/write",
        target: `/offers/${input.id}`,
        details: { op: "create", displayName: input.displayName, providerId: input.providerId },
      });
      return created;
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw new DomainError("AlreadyExists", `offer '${input.id}' already exists.`);
    throw e;
  }
}

export async function getOffer(deps: Deps, id: string): Promise<Offer> {
  const row = await findOffer(deps.store.db, id);
  if (!row) throw notFound("offer", id);
  return toOffer(row);
}

export async function listOffers(
  deps: Deps,
  opts: { cursor?: string; limit: number; providerId?: string },
  scope: OfferScope,
): Promise<Page<Offer>> {
  const { cursor, ...f } = opts;
  const after = cursor === undefined ? undefined : decodeCursor(cursor, ["string"])[0];
  const rows = await listOfferRows(deps.store.db, { ...f, scope, ...(after === undefined ? {} : { after }) });
  return toPage(rows, opts.limit, toOffer, (r) => [r.id]);
}

export async function updateOffer(
  deps: Deps,
  actor: Actor,
  id: string,
  input: { displayName: string },
): Promise<Offer> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable("offers")
      .set({ display_name: input.displayName, updated_at: now })
      .where("id", "=", id)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw notFound("offer", id);
    await appendAudit(trx, actor, now, {
      action: "offers/write",
      target: `/offers/${id}`,
      details: { op: "update", displayName: input.displayName },
    });
    return toOffer((await findOffer(trx, id))!);
  });
}

/**
 * Deletes an offer no subscription is on (deleted subscriptions count: their history is rated
 * with it), together with its price sheets, which therefore never priced anything billed. The
 * offer row is locked first so that a subscription joining it concurrently either sees it gone or
 * makes this refuse.
 */
export async function deleteOffer(deps: Deps, actor: Actor, id: string): Promise<void> {
  if (id === DEFAULT_OFFER_ID)
    throw new DomainError(
      "Conflict",
      `offer '${id}' is the default for new subscriptions and cannot be deleted.`,
    );
  const now = deps.clock.now();
  await deps.store.db.transaction().execute(async (trx) => {
    const row = await lockOffer(deps.store, trx, id, "update");
    if (!row) throw notFound("offer", id);
    const sub = await subscriptionOnOffer(trx, id);
    if (sub)
      throw new DomainError("Conflict", `offer '${id}' is still the offer of subscription '${sub.id}'.`);
    const sheets = await trx.selectFrom("price_sheets").select("id").where("offer_id", "=", id).execute();
    if (sheets.length) {
      const ids = sheets.map((s) => s.id);
      await trx.deleteFrom("price_sheet_meters").where("price_sheet_id", "in", ids).execute();
      await trx.deleteFrom("price_sheets").where("id", "in", ids).execute();
    }
    await trx.deleteFrom("offers").where("id", "=", id).execute();
    await appendAudit(trx, actor, now, {
      action: "offers/delete",
      target: `/offers/${id}`,
      details: { op: "delete", priceSheetsDeleted: sheets.map((s) => s.id) },
    });
  });
}

/**
 * Reads an offer row under a row lock on PostgreSQL (`share` while a subscription joins it,
 * `update` while it is deleted); SQLite serialises writers already.
 */
export async function lockOffer(store: Store, db: Kysely<DB>, id: string, mode: "share" | "update") {
  if (store.dialect !== "postgres") return findOffer(db, id);
  const lock = mode === "share" ? sql`for share` : sql`for update`;
  const r = await sql<{
    id: string;
    provider_id: string;
  }>`select id, provider_id from offers where id = ${id} ${lock}`.execute(db);
  return r.rows[0];
}

/**
 * Makes sure the default offer exists, and adopts as offers owned by the root provider the offer
 * ids that subscriptions created before offers existed already carry, so that every subscription's
 * offer is real. Idempotent; runs at every start.
 */
export async function ensureOffers(db: Kysely<DB>, rootProviderId: string, now: number): Promise<string[]> {
  const missing = await db
    .selectFrom("subscriptions")
    .select("offer_id")
    .distinct()
    .where("offer_id", "not in", db.selectFrom("offers").select("id"))
    .execute();
  const ids = [...new Set([DEFAULT_OFFER_ID, ...missing.map((r) => r.offer_id)])];
  const adopted: string[] = [];
  for (const id of ids) {
    const r = await db
      .insertInto("offers")
      .values({
        id,
        display_name: id === DEFAULT_OFFER_ID ? "Default offer" : id,
        provider_id: rootProviderId,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column("id").doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0) > 0) adopted.push(id);
  }
  return adopted;
}
