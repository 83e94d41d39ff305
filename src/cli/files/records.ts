import { createReadStream, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { parse as parseCsv } from "csv-parse";
import { CliError } from "../errors.js";

/** A record read from a file, as one line of NDJSON text, with the file line it came from. */
export interface FileRecord {
  line: number;
  text: string;
}

const JSON_CELLS = new Set(["tags", "additionalInfo"]);

/**
 * Reads usage records from NDJSON (`.ndjson`, `.jsonl`, anything not `.csv`) or CSV (a header row
 * naming the record fields; `tags` and `additionalInfo` cells hold JSON), one at a time, so that
 * files of any size stream. NDJSON lines are passed on as they are (the server parses numbers
 * losslessly; the CLI never re-encodes them) and CSV quantities stay strings.
 */
export async function* readRecords(path: string, onBytes: (n: number) => void): AsyncGenerator<FileRecord> {
  const stream = createReadStream(path);
  stream.on("data", (chunk) => onBytes(chunk.length));
  if (path.toLowerCase().endsWith(".csv")) {
    const parser = stream.pipe(
      parseCsv({ columns: true, skip_empty_lines: true, trim: true, info: true, bom: true }),
    );
    for await (const row of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      const record: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row.record)) {
        if (v === "") continue;
        if (JSON_CELLS.has(k)) {
          try {
            record[k] = JSON.parse(v);
          } catch {
            throw new CliError(`${path} line ${row.info.lines}: column ${k} is not valid JSON.`);
          }
        } else record[k] = v;
      }
      yield { line: row.info.lines, text: JSON.stringify(record) };
    }
    return;
  }
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() !== "") yield { line: n, text };
  }
}

export const fileSize = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    throw new CliError(`cannot read ${path}.`);
  }
};
