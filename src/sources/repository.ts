import type { Kysely, Selectable } from "kysely";
import type { DB, SourceKeyTable, SourceTable } from "../storage/schema.js";

export interface Source {
  id: string;
  name: string;
  /** `provider`: a resource provider; `bridge`: another cloud's usage bridge. */
  kind: "provider" | "bridge";
  createdAt: string;
  updatedAt: string;
  disabledAt: string | null;
}

export interface SourceKey {
  id: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export const toSource = (r: Selectable<SourceTable>): Source => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
  disabledAt: iso(r.disabled_at),
});

export const toSourceKey = (r: Selectable<SourceKeyTable>): SourceKey => ({
  id: r.id,
  prefix: r.prefix,
  createdAt: iso(r.created_at)!,
  expiresAt: iso(r.expires_at),
  revokedAt: iso(r.revoked_at),
});

/** A source by id or by name. */
export const findSource = (db: Kysely<DB>, idOrName: string) =>
  db
    .selectFrom("sources")
    .selectAll()
    .where((eb) => eb.or([eb("id", "=", idOrName), eb("name", "=", idOrName)]))
    .executeTakeFirst();

export function listSourceRows(
  db: Kysely<DB>,
  f: { after?: string; limit: number; includeDisabled: boolean },
) {
  let q = db
    .selectFrom("sources")
    .selectAll()
    .orderBy("id")
    .limit(f.limit + 1);
  if (f.after !== undefined) q = q.where("id", ">", f.after);
  if (!f.includeDisabled) q = q.where("disabled_at", "is", null);
  return q.execute();
}

export const listKeyRows = (db: Kysely<DB>, sourceId: string) =>
  db.selectFrom("source_keys").selectAll().where("source_id", "=", sourceId).orderBy("created_at").execute();

/** The source a key hash belongs to, if the key is live at `now`. */
export function findSourceByKeyHash(db: Kysely<DB>, hash: string, now: number) {
  return db
    .selectFrom("source_keys as k")
    .innerJoin("sources as s", "s.id", "k.source_id")
    .select(["s.id", "s.seq", "s.name", "s.kind"])
    .where("k.key_hash", "=", hash)
    .where("k.revoked_at", "is", null)
    .where((eb) => eb.or([eb("k.expires_at", "is", null), eb("k.expires_at", ">", now)]))
    .where("s.disabled_at", "is", null)
    .executeTakeFirst();
}
