import type { Kysely } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, notFound } from "../domain/errors.js";
import { meterKey } from "../domain/ids.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import type { DB } from "../storage/schema.js";
import { findMeterByKey, listMeterRows, type Meter, toMeter } from "./repository.js";
import { catalogue } from "./seed.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

/**
 * Adds the catalogue meters the database does not have yet. Existing rows are left alone, so an
 * operator's deprecation of a catalogue meter survives restarts and upgrades.
 */
export async function seedCatalogue(db: Kysely<DB>, now: number): Promise<number> {
  const rows = catalogue().map((m) => ({
    key: m.key,
    id: m.id,
    name: m.name,
    unit: m.unit,
    category: m.category,
    sub_category: null,
    status: m.status,
    origin: "catalogue" as const,
    created_at: now,
    updated_at: now,
  }));
  const r = await db
    .insertInto("meters")
    .values(rows)
    .onConflict((oc) => oc.column("key").doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0);
}

export async function getMeter(deps: Deps, id: string): Promise<Meter> {
  const key = meterKey(id);
  const row = key === undefined ? undefined : await findMeterByKey(deps.store.db, key);
  if (!row) throw notFound("meter", id);
  return toMeter(row);
}

export async function listMeters(
  deps: Deps,
  opts: { cursor?: string; limit: number; status?: "current" | "deprecated"; category?: string },
): Promise<Page<Meter>> {
  const { cursor, ...f } = opts;
  const after = cursor === undefined ? undefined : decodeCursor(cursor, ["string"])[0];
  const rows = await listMeterRows(deps.store.db, { ...f, ...(after === undefined ? {} : { after }) });
  return toPage(rows, opts.limit, toMeter, (r) => [r.key]);
}

export interface CreateMeter {
  id: string;
  name: string;
  unit: string;
  category: string;
  subCategory?: string;
}

/** Adds an operator-defined meter; its id is a GUID (with or without hyphens), kept as written. */
export async function createMeter(deps: Deps, actor: Actor, input: CreateMeter): Promise<Meter> {
  const key = meterKey(input.id);
  if (key === undefined) {
    throw new DomainError("ValidationFailed", "id must be a GUID or 32 hex digits", [
      { field: "id", reason: "must be a GUID or 32 hex digits" },
    ]);
  }
  const now = deps.clock.now();
  try {
    return await deps.store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("meters")
        .values({
          key,
          id: input.id,
          name: input.name,
          unit: input.unit,
          category: input.category,
          sub_category: input.subCategory ?? null,
          status: "current",
          origin: "custom",
          created_at: now,
          updated_at: now,
        })
        .execute();
      await appendAudit(trx, actor, now, {
        action: "meters/write",
        target: `/meters/${input.id}`,
        details: { op: "create", ...input },
      });
      return toMeter((await findMeterByKey(trx, key))!);
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw new DomainError("AlreadyExists", `meter '${input.id}' already exists.`);
    throw e;
  }
}

/**
 * Updates a meter: its status (deprecate or reinstate any meter) and, for custom meters only, its
 * descriptive fields. Catalogue facts stay as Microsoft documents them.
 */
export async function updateMeter(
  deps: Deps,
  actor: Actor,
  id: string,
  input: {
    status?: "current" | "deprecated";
    name?: string;
    unit?: string;
    category?: string;
    subCategory?: string | null;
  },
): Promise<Meter> {
  const key = meterKey(id);
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const row = key === undefined ? undefined : await findMeterByKey(trx, key);
    if (!row) throw notFound("meter", id);
    const descriptive = input.name ?? input.unit ?? input.category ?? input.subCategory;
    if (descriptive !== undefined && row.origin === "catalogue") {
      throw new DomainError(
        "Conflict",
        `meter '${row.id}' comes from the Azure Stack catalogue; only its status can change.`,
      );
    }
    await trx
      .updateTable("meters")
      .set({
        ...(input.status !== undefined ? { status: input.status } : {}),
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.unit !== undefined ? { unit: input.unit } : {}),
        ...(input.category !== undefined ? { category: input.category } : {}),
        ...(input.subCategory !== undefined ? { sub_category: input.subCategory } : {}),
        updated_at: now,
      })
      .where("key", "=", row.key)
      .execute();
    await appendAudit(trx, actor, now, {
      action: "meters/write",
      target: `/meters/${row.id}`,
      details: { op: "update", ...input },
    });
    return toMeter((await findMeterByKey(trx, row.key))!);
  });
}
