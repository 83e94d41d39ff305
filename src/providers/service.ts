import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { findDirectory } from "../directories/repository.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, notFound } from "../domain/errors.js";
import { canonicalGuid, newGuid, SLUG } from "../domain/ids.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import { findSubscription, insertSubscription, updateSubscriptionRow } from "../subscriptions/repository.js";
import { DEFAULT_OFFER_ID } from "../subscriptions/service.js";
import { findProvider, listProviderRows, type Provider, toProvider } from "./repository.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

export interface CreateProvider {
  id?: string;
  displayName: string;
  parentId?: string;
  /** The directory of the provider's own provider subscription (default: the operator's). */
  directoryId?: string;
  /** The id of the provider subscription to create (default: a new GUID). */
  subscriptionId?: string;
}

const bad = (field: string, reason: string) =>
  new DomainError("ValidationFailed", `${field}: ${reason}`, [{ field, reason }]);

/**
 * Creates a delegated provider below `parentId` together with its provider subscription, which
 * its parent offers to it (so it is one of the parent's direct tenants, as in Azure Stack).
 */
export async function createProvider(
  deps: Deps,
  actor: Actor,
  input: CreateProvider,
  defaults: { rootProviderId: string; operatorDirectoryId: string },
): Promise<Provider> {
  const now = deps.clock.now();
  const id = input.id ?? newGuid();
  if (!SLUG.test(id))
    throw bad("id", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  const subscriptionId = input.subscriptionId === undefined ? newGuid() : canonicalGuid(input.subscriptionId);
  if (subscriptionId === undefined) throw bad("subscriptionId", "must be a GUID");
  const parentId = input.parentId ?? defaults.rootProviderId;
  const directoryId = input.directoryId ?? defaults.operatorDirectoryId;
  try {
    return await deps.store.db.transaction().execute(async (trx) => {
      const parent = await findProvider(trx, parentId);
      if (!parent || parent.deleted_at !== null)
        throw bad("parentId", `provider '${parentId}' does not exist`);
      if (!(await findDirectory(trx, directoryId)))
        throw bad("directoryId", `directory '${directoryId}' does not exist`);
      await insertSubscription(trx, {
        id: subscriptionId,
        display_name: `${input.displayName} (provider subscription)`,
        directory_id: directoryId,
        provider_id: parentId,
        offer_id: DEFAULT_OFFER_ID,
        state: "Active",
        created_at: now,
        updated_at: now,
        deleted_at: null,
      });
      await trx
        .insertInto("providers")
        .values({
          id,
          display_name: input.displayName,
          parent_id: parentId,
          subscription_id: subscriptionId,
          created_at: now,
          updated_at: now,
          deleted_at: null,
        })
        .execute();
      const created = toProvider((await findProvider(trx, id))!);
      await appendAudit(trx, actor, now, {
        action: "providers/write",
        target: `/providers/${id}`,
        details: { op: "create", ...created },
      });
      return created;
    });
  } catch (e) {
    if (isUniqueViolation(e)) {
      throw new DomainError(
        "AlreadyExists",
        `provider '${id}' or subscription '${subscriptionId}' already exists.`,
      );
    }
    throw e;
  }
}

export async function getProvider(deps: Deps, id: string): Promise<Provider> {
  const row = await findProvider(deps.store.db, id);
  if (!row || row.deleted_at !== null) throw notFound("provider", id);
  return toProvider(row);
}

export async function listProviders(
  deps: Deps,
  opts: { cursor?: string; limit: number; parentId?: string; ids?: readonly string[] },
): Promise<Page<Provider>> {
  const { cursor, ...f } = opts;
  const after = cursor === undefined ? undefined : decodeCursor(cursor, ["string"])[0];
  const rows = await listProviderRows(deps.store.db, { ...f, ...(after === undefined ? {} : { after }) });
  return toPage(rows, opts.limit, toProvider, (r) => [r.id]);
}

export async function updateProvider(
  deps: Deps,
  actor: Actor,
  id: string,
  input: { displayName: string },
): Promise<Provider> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const row = await findProvider(trx, id);
    if (!row || row.deleted_at !== null) throw notFound("provider", id);
    await trx
      .updateTable("providers")
      .set({ display_name: input.displayName, updated_at: now })
      .where("id", "=", id)
      .execute();
    await appendAudit(trx, actor, now, {
      action: "providers/write",
      target: `/providers/${id}`,
      details: { op: "update", displayName: input.displayName },
    });
    return toProvider((await findProvider(trx, id))!);
  });
}

/**
 * Deletes a delegated provider that no longer offers anything: no live child providers and no live
 * subscriptions. Its provider subscription becomes Deleted and keeps its usage; the row stays so
 * that history keeps pointing at it.
 */
export async function deleteProvider(deps: Deps, actor: Actor, id: string): Promise<void> {
  const now = deps.clock.now();
  await deps.store.db.transaction().execute(async (trx) => {
    const row = await findProvider(trx, id);
    if (!row || row.deleted_at !== null) throw notFound("provider", id);
    if (row.parent_id === null)
      throw new DomainError("Conflict", "the operator's root provider cannot be deleted.");
    const child = await trx
      .selectFrom("providers")
      .select("id")
      .where("parent_id", "=", id)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    if (child)
      throw new DomainError(
        "Conflict",
        `provider '${id}' still has delegated provider '${child.id}' below it.`,
      );
    const offered = await trx
      .selectFrom("subscriptions")
      .select("id")
      .where("provider_id", "=", id)
      .where("state", "!=", "Deleted")
      .executeTakeFirst();
    if (offered)
      throw new DomainError("Conflict", `provider '${id}' still offers subscription '${offered.id}'.`);
    await trx
      .updateTable("providers")
      .set({ deleted_at: now, updated_at: now })
      .where("id", "=", id)
      .execute();
    const sub = await findSubscription(trx, row.subscription_id);
    if (sub && sub.state !== "Deleted") {
      await updateSubscriptionRow(trx, sub.id, { state: "Deleted", deleted_at: now, updated_at: now });
    }
    await appendAudit(trx, actor, now, { action: "providers/delete", target: `/providers/${id}` });
  });
}
