import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { findDirectory } from "../directories/repository.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, notFound } from "../domain/errors.js";
import { canonicalGuid, newGuid } from "../domain/ids.js";
import { findProvider } from "../providers/repository.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
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

export const DEFAULT_OFFER_ID = "default";

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
