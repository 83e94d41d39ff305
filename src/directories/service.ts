import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, notFound } from "../domain/errors.js";
import type { SubscriptionScope } from "../domain/scope.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import {
  countDirectorySubscriptions,
  type Directory,
  deleteDirectoryRow,
  findDirectory,
  insertDirectory,
  listDirectoryRows,
  toDirectory,
  updateDirectoryName,
} from "./repository.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

export async function createDirectory(
  deps: Deps,
  actor: Actor,
  input: { id: string; displayName: string },
): Promise<Directory> {
  const now = deps.clock.now();
  try {
    return await deps.store.db.transaction().execute(async (trx) => {
      await insertDirectory(trx, input.id, input.displayName, now);
      await appendAudit(trx, actor, now, {
        action: "directories/write",
        target: `/directories/${input.id}`,
        details: { op: "create", displayName: input.displayName },
      });
      return toDirectory((await findDirectory(trx, input.id))!);
    });
  } catch (e) {
    if (isUniqueViolation(e))
      throw new DomainError("AlreadyExists", `directory '${input.id}' already exists.`);
    throw e;
  }
}

/** A directory `visible` lets the caller see (one of whose subscriptions it can see). */
export async function getDirectory(
  deps: Deps,
  id: string,
  visible: SubscriptionScope = "all",
): Promise<Directory> {
  const row = await findDirectory(deps.store.db, id, visible);
  if (!row) throw notFound("directory", id);
  return toDirectory(row);
}

export async function listDirectories(
  deps: Deps,
  opts: { cursor?: string; limit: number },
  visible: SubscriptionScope = "all",
): Promise<Page<Directory>> {
  const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor, ["string"])[0];
  const rows = await listDirectoryRows(deps.store.db, {
    limit: opts.limit,
    ...(after === undefined ? {} : { after }),
    scope: visible,
  });
  return toPage(rows, opts.limit, toDirectory, (r) => [r.id]);
}

export async function updateDirectory(
  deps: Deps,
  actor: Actor,
  id: string,
  input: { displayName: string },
): Promise<Directory> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    if (!(await updateDirectoryName(trx, id, input.displayName, now))) throw notFound("directory", id);
    await appendAudit(trx, actor, now, {
      action: "directories/write",
      target: `/directories/${id}`,
      details: { op: "update", displayName: input.displayName },
    });
    return toDirectory((await findDirectory(trx, id))!);
  });
}

/** A directory can be deleted only while no subscription (even a deleted one, which keeps its usage) refers to it. */
export async function deleteDirectory(deps: Deps, actor: Actor, id: string): Promise<void> {
  const now = deps.clock.now();
  await deps.store.db.transaction().execute(async (trx) => {
    if (!(await findDirectory(trx, id))) throw notFound("directory", id);
    const n = await countDirectorySubscriptions(trx, id);
    if (n > 0) {
      throw new DomainError(
        "Conflict",
        `directory '${id}' still has ${n} subscription(s); subscriptions keep their usage, so the directory stays.`,
      );
    }
    await deleteDirectoryRow(trx, id);
    await appendAudit(trx, actor, now, { action: "directories/delete", target: `/directories/${id}` });
  });
}
