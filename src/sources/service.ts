import type { Kysely } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, notFound } from "../domain/errors.js";
import { newGuid } from "../domain/ids.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import type { DB } from "../storage/schema.js";
import { displayPrefix, hashApiKey, newApiKey } from "./keys.js";
import {
  findSource,
  listKeyRows,
  listSourceRows,
  type Source,
  type SourceKey,
  toSource,
  toSourceKey,
} from "./repository.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

/** Source names: what operators type; 1-64 letters, digits, '.', '_', '-'. */
export const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

async function issueKey(
  db: Kysely<DB>,
  sourceId: string,
  now: number,
): Promise<{ apiKey: string; keyId: string }> {
  const apiKey = newApiKey();
  const keyId = newGuid();
  await db
    .insertInto("source_keys")
    .values({
      id: keyId,
      source_id: sourceId,
      key_hash: hashApiKey(apiKey),
      prefix: displayPrefix(apiKey),
      created_at: now,
      expires_at: null,
      revoked_at: null,
    })
    .execute();
  return { apiKey, keyId };
}

/** Registers a resource provider. The API key is returned only here; tally keeps its hash. */
export async function createSource(
  deps: Deps,
  actor: Actor,
  input: { name: string; kind?: "provider" | "bridge" },
): Promise<Source & { apiKey: string }> {
  const now = deps.clock.now();
  const id = newGuid();
  try {
    return await deps.store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("sources")
        .values({
          id,
          name: input.name,
          kind: input.kind ?? "provider",
          created_at: now,
          updated_at: now,
          disabled_at: null,
        })
        .execute();
      const { apiKey, keyId } = await issueKey(trx, id, now);
      await appendAudit(trx, actor, now, {
        action: "sources/write",
        target: `/sources/${id}`,
        details: { op: "create", name: input.name, kind: input.kind ?? "provider", keyId },
      });
      return { ...toSource((await findSource(trx, id))!), apiKey };
    });
  } catch (e) {
    if (isUniqueViolation(e))
      throw new DomainError("AlreadyExists", `source '${input.name}' already exists.`);
    throw e;
  }
}

async function liveSource(db: Kysely<DB>, idOrName: string) {
  const row = await findSource(db, idOrName);
  if (!row || row.disabled_at !== null) throw notFound("source", idOrName);
  return row;
}

export async function getSource(deps: Deps, idOrName: string): Promise<Source & { keys: SourceKey[] }> {
  const row = await findSource(deps.store.db, idOrName);
  if (!row) throw notFound("source", idOrName);
  return { ...toSource(row), keys: (await listKeyRows(deps.store.db, row.id)).map(toSourceKey) };
}

export async function listSources(
  deps: Deps,
  opts: { cursor?: string; limit: number; includeDisabled?: boolean },
): Promise<Page<Source>> {
  const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor, ["string"])[0];
  const rows = await listSourceRows(deps.store.db, {
    limit: opts.limit,
    includeDisabled: opts.includeDisabled ?? false,
    ...(after === undefined ? {} : { after }),
  });
  return toPage(rows, opts.limit, toSource, (r) => [r.id]);
}

/**
 * Issues a new key. Keys issued before keep working for `graceMs` (default 24 h) so that the
 * resource provider can be reconfigured without dropping usage; `graceMs: 0` ends them now.
 */
export async function rotateSourceKey(
  deps: Deps,
  actor: Actor,
  idOrName: string,
  opts: { graceMs: number },
): Promise<{ apiKey: string; keyId: string; previousKeysExpireAt: string }> {
  const now = deps.clock.now();
  const expiresAt = now + opts.graceMs;
  return deps.store.db.transaction().execute(async (trx) => {
    const src = await liveSource(trx, idOrName);
    await trx
      .updateTable("source_keys")
      .set({ expires_at: expiresAt })
      .where("source_id", "=", src.id)
      .where("revoked_at", "is", null)
      .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", expiresAt)]))
      .execute();
    const issued = await issueKey(trx, src.id, now);
    await appendAudit(trx, actor, now, {
      action: "sources/keys/write",
      target: `/sources/${src.id}`,
      details: { op: "rotate", keyId: issued.keyId, graceMs: opts.graceMs },
    });
    return { ...issued, previousKeysExpireAt: new Date(expiresAt).toISOString() };
  });
}

/** Revokes one key, or every key of the source when `keyId` is omitted. */
export async function revokeSourceKeys(
  deps: Deps,
  actor: Actor,
  idOrName: string,
  keyId?: string,
): Promise<{ revoked: number }> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const src = await liveSource(trx, idOrName);
    let q = trx
      .updateTable("source_keys")
      .set({ revoked_at: now })
      .where("source_id", "=", src.id)
      .where("revoked_at", "is", null);
    if (keyId !== undefined) q = q.where("id", "=", keyId);
    const r = await q.executeTakeFirst();
    const revoked = Number(r.numUpdatedRows);
    if (keyId !== undefined && revoked === 0) throw notFound("live key", keyId);
    await appendAudit(trx, actor, now, {
      action: "sources/keys/delete",
      target: `/sources/${src.id}`,
      details: { op: "revoke", keyId: keyId ?? "all", revoked },
    });
    return { revoked };
  });
}

/** Disables a source and revokes its keys; the usage it reported stays. */
export async function deleteSource(deps: Deps, actor: Actor, idOrName: string): Promise<void> {
  const now = deps.clock.now();
  await deps.store.db.transaction().execute(async (trx) => {
    const src = await liveSource(trx, idOrName);
    await trx
      .updateTable("sources")
      .set({ disabled_at: now, updated_at: now })
      .where("id", "=", src.id)
      .execute();
    await trx
      .updateTable("source_keys")
      .set({ revoked_at: now })
      .where("source_id", "=", src.id)
      .where("revoked_at", "is", null)
      .execute();
    await appendAudit(trx, actor, now, { action: "sources/delete", target: `/sources/${src.id}` });
  });
}
