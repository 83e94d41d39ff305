import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The installed package's root (the folder with package.json), from source or from dist/. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find tally's package.json");
    dir = up;
  }
  return dir;
}

export const PACKAGE_ROOT = findRoot();
export const SEED_DIR = join(PACKAGE_ROOT, "seed");
