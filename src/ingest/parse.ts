import { parse as parseLossless } from "lossless-json";
import secureJson from "secure-json-parse";
import { DomainError } from "../domain/errors.js";
import { DecimalText } from "../domain/json.js";

/** The records of a request body, with the 1-based line of each when the body is NDJSON. */
export interface ParsedBatch {
  records: unknown[];
  lines: number[] | undefined;
}

/** Quantities written as JSON numbers (string quantities are exact already). */
const NUMERIC_QUANTITY = /"quantity"\s*:\s*(-?[\d.][\d.eE+-]*)/g;

/**
 * True when some quantity is a JSON number with more significant digits than a double holds:
 * JSON.parse would round it, so the body takes the exact (slower) path. Scanning only the
 * quantity tokens costs a tenth of scanning every number in the body.
 */
export function hasLongQuantity(text: string): boolean {
  NUMERIC_QUANTITY.lastIndex = 0;
  for (let m = NUMERIC_QUANTITY.exec(text); m !== null; m = NUMERIC_QUANTITY.exec(text)) {
    const mantissa = m[1]!.split(/[eE]/)[0]!.replace(/^-/, "");
    if (mantissa.replace(".", "").replace(/^0+/, "").length > 15) return true;
  }
  return false;
}

/**
 * Only a body that spells `__proto__` or `constructor`, or escapes characters with `\u`, can hide a
 * prototype-poisoning key; everything else goes straight to JSON.parse.
 */
const mayPoison = (text: string) =>
  text.includes("__proto__") || text.includes("constructor") || text.includes("\\u");

function parseValue(text: string, where: string): unknown {
  try {
    if (!hasLongQuantity(text)) {
      return mayPoison(text)
        ? secureJson.parse(text, { protoAction: "error", constructorAction: "error" })
        : JSON.parse(text);
    }
    if (mayPoison(text)) secureJson.parse(text, { protoAction: "error", constructorAction: "error" });
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
