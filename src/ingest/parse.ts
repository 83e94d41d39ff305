import { parse as parseLossless } from "lossless-json";
import secureJson from "secure-json-parse";
import { DomainError } from "../domain/errors.js";
import { DecimalText } from "../domain/json.js";

/** The records of a request body, with the 1-based line of each when the body is NDJSON. */
export interface ParsedBatch {
  records: unknown[];
  lines: number[] | undefined;
}

/**
 * A run of 16 or more digits and dots can only come from a number with more significant digits
 * than a double holds (or a harmless string such as a version). Bodies without one parse with
 * JSON.parse losslessly; the rest take the slower exact path, so no quantity is ever rounded.
 */
const LONG_NUMBER = /\d[\d.]{15}/;

function parseValue(text: string, where: string): unknown {
  try {
    if (!LONG_NUMBER.test(text))
      return secureJson.parse(text, { protoAction: "error", constructorAction: "error" });
    if (text.includes('"__proto__"'))
      throw new SyntaxError('Object contains forbidden prototype property "__proto__"');
    return parseLossless(text, null, (digits) => new DecimalText(digits));
  } catch (e) {
    throw new DomainError("InvalidRequest", `the body is not valid JSON${where}: ${(e as Error).message}`);
  }
}

/** A JSON array of records, or `{"records": [...]}`. */
export function parseJsonBatch(text: string): ParsedBatch {
  if (text.trim() === "")
    throw new DomainError("InvalidRequest", "the body is empty; send a JSON array of usage records.");
  const v = parseValue(text, "");
  if (Array.isArray(v)) return { records: v, lines: undefined };
  if (typeof v === "object" && v !== null && Array.isArray((v as { records?: unknown }).records)) {
    const keys = Object.keys(v);
    if (keys.length !== 1) {
      throw new DomainError(
        "InvalidRequest",
        `the body may hold only "records"; found ${keys.filter((k) => k !== "records").join(", ")}.`,
      );
    }
    return { records: (v as { records: unknown[] }).records, lines: undefined };
  }
  throw new DomainError(
    "InvalidRequest",
    'the body must be a JSON array of usage records or {"records": [...]}.',
  );
}

/** One record per line; blank lines are skipped; a bad line is named by its number. */
export function parseNdjsonBatch(text: string): ParsedBatch {
  const records: unknown[] = [];
  const lines: number[] = [];
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    line++;
    const raw = text.slice(start, end).trim();
    if (raw !== "") {
      records.push(parseValue(raw, ` on line ${line}`));
      lines.push(line);
    }
    start = end + 1;
  }
  if (records.length === 0) throw new DomainError("InvalidRequest", "the body holds no records.");
  return { records, lines };
}
