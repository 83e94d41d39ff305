import type { Kysely, Selectable } from "kysely";
import type { DB, MeterTable } from "../storage/schema.js";

export type MeterRow = Selectable<MeterTable>;

export interface Meter {
  id: string;
  name: string;
  unit: string;
  category: string;
  subCategory: string | null;
  status: "current" | "deprecated";
  origin: "catalogue" | "custom";
}

export const toMeter = (r: MeterRow): Meter => ({
  id: r.id,
  name: r.name,
  unit: r.unit,
  category: r.category,
  subCategory: r.sub_category,
  status: r.status,
  origin: r.origin,
});

export function findMeterByKey(db: Kysely<DB>, key: string) {
  return db.selectFrom("meters").selectAll().where("key", "=", key).executeTakeFirst();
}

export function listMeterRows(
  db: Kysely<DB>,
  opts: { after?: string; limit: number; status?: "current" | "deprecated"; category?: string },
) {
  let q = db
    .selectFrom("meters")
    .selectAll()
    .orderBy("key")
    .limit(opts.limit + 1);
  if (opts.after !== undefined) q = q.where("key", ">", opts.after);
  if (opts.status !== undefined) q = q.where("status", "=", opts.status);
  if (opts.category !== undefined) q = q.where("category", "=", opts.category);
  return q.execute();
}

/** Every meter, keyed by its normalised key; the catalogue is small (about a hundred rows). */
export async function allMeters(db: Kysely<DB>): Promise<MeterRow[]> {
  return db.selectFrom("meters").selectAll().execute();
}
