import type { Kysely, Selectable } from "kysely";
import type { SubscriptionScope } from "../domain/scope.js";
import type { DB, DirectoryTable } from "../storage/schema.js";
import { subscriptionsInScope } from "../subscriptions/repository.js";

export interface Directory {
  id: string;
  displayName: string;
  createdAt: string;
  updatedAt: string;
}

export const toDirectory = (r: Selectable<DirectoryTable>): Directory => ({
  id: r.id,
  displayName: r.display_name,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

/**
 * A directory, if it exists and lies in `scope`: a directory is visible through the subscriptions
 * of it that are (all directories with `"all"`).
 */
export function findDirectory(db: Kysely<DB>, id: string, scope: SubscriptionScope = "all") {
  let q = db.selectFrom("directories").selectAll().where("id", "=", id);
  if (scope !== "all") q = q.where("id", "in", subscriptionsInScope(db, scope).select("directory_id"));
  return q.executeTakeFirst();
}

export function listDirectoryRows(
  db: Kysely<DB>,
  opts: { after?: string; limit: number; scope?: SubscriptionScope },
) {
  let q = db
    .selectFrom("directories")
    .selectAll()
    .orderBy("id")
    .limit(opts.limit + 1);
  if (opts.after !== undefined) q = q.where("id", ">", opts.after);
  if (opts.scope !== undefined && opts.scope !== "all")
    q = q.where("id", "in", subscriptionsInScope(db, opts.scope).select("directory_id"));
  return q.execute();
}

export async function insertDirectory(db: Kysely<DB>, id: string, displayName: string, now: number) {
  await db
    .insertInto("directories")
    .values({ id, display_name: displayName, created_at: now, updated_at: now })
    .execute();
}

export async function updateDirectoryName(db: Kysely<DB>, id: string, displayName: string, now: number) {
  const r = await db
    .updateTable("directories")
    .set({ display_name: displayName, updated_at: now })
    .where("id", "=", id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function deleteDirectoryRow(db: Kysely<DB>, id: string) {
  const r = await db.deleteFrom("directories").where("id", "=", id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function countDirectorySubscriptions(db: Kysely<DB>, id: string): Promise<number> {
  const r = await db
    .selectFrom("subscriptions")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("directory_id", "=", id)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
