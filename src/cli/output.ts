import Table from "cli-table3";

export interface OutputOptions {
  json?: boolean;
}

export type Column<T> = [header: string, value: (row: T) => unknown];

const cell = (v: unknown) =>
  v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);

/** Prints rows as a table, or as JSON with `--json`. */
export function printRows<T>(rows: T[], columns: Column<T>[], opts: OutputOptions): void {
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const table = new Table({ head: columns.map(([h]) => h), style: { head: [], border: [] } });
  for (const r of rows) table.push(columns.map(([, f]) => cell(f(r))));
  process.stdout.write(`${table.toString()}\n`);
}

/** Prints one object as `key: value` lines, or as JSON with `--json`. */
export function printObject(obj: object, opts: OutputOptions): void {
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(obj, null, 2)}\n`);
    return;
  }
  const entries = Object.entries(obj);
  const width = Math.max(...entries.map(([k]) => k.length));
  for (const [k, v] of entries) process.stdout.write(`${k.padEnd(width)}  ${cell(v)}\n`);
}
