import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { meterKey } from "../domain/ids.js";
import { SEED_DIR } from "../paths.js";

/** One meter of the Azure Stack catalogue shipped in `seed/azure-stack-meters.csv`. */
export interface CatalogueMeter {
  key: string;
  id: string;
  name: string;
  unit: string;
  category: string;
  status: "current" | "deprecated";
}

const SEED = join(SEED_DIR, "azure-stack-meters.csv");

export function parseCatalogue(text: string): CatalogueMeter[] {
  const rows: Record<string, string>[] = parse(text, { columns: true, skip_empty_lines: true, trim: true });
  return rows.map((r, i) => {
    const key = meterKey(r.meter_id ?? "");
    if (!key) throw new Error(`catalogue row ${i + 2}: '${r.meter_id}' is not a meter id`);
    if (r.status !== "current" && r.status !== "deprecated")
      throw new Error(`catalogue row ${i + 2}: bad status`);
    return {
      key,
      id: r.meter_id!,
      name: r.name ?? "",
      // The catalogue leaves Web Process's unit blank; the FAQ meters it per active site per hour.
      unit: r.unit || "1 hour",
      category: r.category ?? "",
      status: r.status,
    };
  });
}

let cached: CatalogueMeter[] | undefined;

export function catalogue(): CatalogueMeter[] {
  cached ??= parseCatalogue(readFileSync(SEED, "utf8"));
  return cached;
}
