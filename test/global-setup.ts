import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * The suite also runs compiled code: the `tally` binary in end-to-end tests and the SQLite writer
 * thread (worker threads load JavaScript). Build once before any test, incrementally.
 */
export default function setup(): void {
  const root = join(import.meta.dirname, "..");
  execFileSync(
    process.execPath,
    [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")],
    {
      stdio: "inherit",
    },
  );
}
