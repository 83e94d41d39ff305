import type { Kysely } from "kysely";
import { allMeters } from "../catalogue/repository.js";
import { meterKey } from "../domain/ids.js";
import type { DB } from "../storage/schema.js";

/** What rating shows of a meter: the catalogue's facts, keyed by the normalised meter key. */
export interface MeterInfo {
  key: string;
  id: string;
  name: string;
  unit: string;
  category: string;
  subCategory: string | null;
}

export type MeterCatalogue = ReadonlyMap<string, MeterInfo>;

/** The whole catalogue (about a hundred meters): price sheets refer to any of them. */
export async function meterCatalogue(db: Kysely<DB>): Promise<MeterCatalogue> {
  const rows = await allMeters(db);
  return new Map(
    rows.map((r) => [
      r.key,
      { key: r.key, id: r.id, name: r.name, unit: r.unit, category: r.category, subCategory: r.sub_category },
    ]),
  );
}

/** A meter id in any spelling → the catalogue's meter, or undefined. */
export const lookupMeter = (cat: MeterCatalogue, id: string): MeterInfo | undefined => {
  const k = meterKey(id);
  return k === undefined ? undefined : cat.get(k);
};

/** A meter id in any spelling → the catalogue's spelling, or undefined (for parsers). */
export const meterResolver =
  (cat: MeterCatalogue) =>
  (id: string): string | undefined =>
    lookupMeter(cat, id)?.id;
