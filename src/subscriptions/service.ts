import type { Kysely } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import { ProviderTree } from "../auth/scoping.js";
import type { Clock } from "../clock.js";
import { findDirectory } from "../directories/repository.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, notFound } from "../domain/errors.js";
import { canonicalGuid, newGuid } from "../domain/ids.js";
import { DEFAULT_OFFER_ID, lockOffer } from "../offers/service.js";
import { findProvider } from "../providers/repository.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import type { DB } from "../storage/schema.js";
import {
  findSubscription,
  insertSubscription,
  listSubscriptionRows,
  type Subscription,
  type SubscriptionFilter,
  type SubscriptionState,
  toSubscription,
  updateSubscriptionRow,
} from "./repository.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

export { DEFAULT_OFFER_ID };

export interface CreateSubscription {
  id?: string;
  displayName: string;
  directoryId: string;
  providerId?: string;
  offerId?: string;
  state?: "Active" | "Disabled";
}

export async function createSubscription(
  deps: Deps,
  actor: Actor,
  input: CreateSubscription,
  defaults: { rootProviderId: string },
): Promise<Subscription> {
  const now = deps.clock.now();
  const id = input.id === undefined ? newGuid() : canonicalGuid(input.id);
  if (id === undefined)
    throw new DomainError("ValidationFailed", "id must be a GUID", [
      { field: "id", reason: "must be a GUID" },
    ]);
  const providerId = input.providerId ?? defaults.rootProviderId;
  try {
    return await deps.store.db.transaction().execute(async (trx) => {
      if (!(await findDirectory(trx, input.directoryId)))
        throw missing("directoryId", `directory '${input.directoryId}' does not exist`);
      const provider = await findProvider(trx, providerId);
      if (!provider || provider.deleted_at !== null)
        throw missing("providerId", `provider '${providerId}' does not exist`);
      await requireUsableOffer(deps.store, trx, input.offerId ?? DEFAULT_OFFER_ID, providerId);
      await insertSubscription(trx, {
        id,
        display_name: input.displayName,
        directory_id: input.directoryId,
        provider_id: providerId,
        offer_id: input.offerId ?? DEFAULT_OFFER_ID,
        state: input.state ?? "Active",
        created_at: now,
        updated_at: now,
        deleted_at: null,
      });
      const created = toSubscription((await findSubscription(trx, id))!);
      await appendAudit(trx, actor, now, {
        action: "subscriptions/write",
        target: `/subscriptions/${id}`,
        details: { op: "create", ...created },
      });
      return created;
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw new DomainError("AlreadyExists", `subscription '${id}' already exists.`);
    throw e;
  }
}

const missing = (field: string, reason: string) =>
  new DomainError("ValidationFailed", `${field}: ${reason}`, [{ field, reason }]);

/**
 * A subscription may be on an offer of the provider that offers it or of a provider above that
 * one (a reseller resells its parents' offers, never a sibling's). The offer row stays share-locked
 * until the transaction ends, so that the offer cannot be deleted underneath the subscription.
 * subscriptions.offer_id has no foreign key (SQLite cannot add one to an existing table), so this
 * check is what keeps every subscription's offer real.
 */
async function requireUsableOffer(store: Store, db: Kysely<DB>, offerId: string, providerId: string) {
  const offer = await lockOffer(store, db, offerId, "share");
  if (!offer) throw missing("offerId", `offer '${offerId}' does not exist`);
  const tree = await ProviderTree.load(db);
  if (!tree.ancestors(providerId).includes(offer.provider_id))
    throw missing(
      "offerId",
      `offer '${offerId}' belongs to provider '${offer.provider_id}', which does not offer it to provider '${providerId}'`,
    );
}

export async function getSubscription(deps: Deps, id: string): Promise<Subscription> {
  const key = canonicalGuid(id);
  const row = key === undefined ? undefined : await findSubscription(deps.store.db, key);
  if (!row) throw notFound("subscription", id);
  return toSubscription(row);
}

export async function listSubscriptions(
  deps: Deps,
  opts: Omit<SubscriptionFilter, "after"> & { cursor?: string },
): Promise<Page<Subscription>> {
  const { cursor, ...filter } = opts;
  const after = cursor === undefined ? undefined : decodeCursor(cursor, ["string"])[0];
  const rows = await listSubscriptionRows(deps.store.db, {
    ...filter,
    ...(after === undefined ? {} : { after }),
  });
  return toPage(rows, opts.limit, toSubscription, (r) => [r.id]);
}

export interface UpdateSubscription {
  displayName?: string;
  offerId?: string;
  state?: SubscriptionState;
}

/** Deleted is terminal: a deleted subscription keeps its usage but cannot come back. */
export async function updateSubscription(
  deps: Deps,
  actor: Actor,
  id: string,
  input: UpdateSubscription,
): Promise<Subscription> {
  const now = deps.clock.now();
  const key = canonicalGuid(id);
  return deps.store.db.transaction().execute(async (trx) => {
    const row = key === undefined ? undefined : await findSubscription(trx, key);
    if (!row) throw notFound("subscription", id);
    if (row.state === "Deleted" && (input.state ?? "Deleted") !== "Deleted") {
      throw new DomainError("Conflict", `subscription '${row.id}' is deleted and cannot change state.`);
    }
    if (input.offerId !== undefined && input.offerId !== row.offer_id)
      await requireUsableOffer(deps.store, trx, input.offerId, row.provider_id);
    const toDeleted = input.state === "Deleted" && row.state !== "Deleted";
    await updateSubscriptionRow(trx, row.id, {
      ...(input.displayName !== undefined ? { display_name: input.displayName } : {}),
      ...(input.offerId !== undefined ? { offer_id: input.offerId } : {}),
      ...(input.state !== undefined ? { state: input.state } : {}),
      ...(toDeleted ? { deleted_at: now } : {}),
      updated_at: now,
    });
    await appendAudit(trx, actor, now, {
      action: toDeleted ? "subscriptions/delete" : "subscriptions/write",
      target: `/subscriptions/${row.id}`,
      details: { op: toDeleted ? "delete" : "update", ...input },
    });
    return toSubscription((await findSubscription(trx, row.id))!);
  });
}

export const deleteSubscription = (deps: Deps, actor: Actor, id: string) =>
  updateSubscription(deps, actor, id, { state: "Deleted" });
