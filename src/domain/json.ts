import { parse as parseLossless } from "lossless-json";
/**
 * A JSON number kept as its exact source text (from the lossless parse path), so that a quantity
 * or a number inside `additionalInfo` with more digits than a double holds is never rounded.
 */
export class DecimalText {
  constructor(readonly text: string) {}
  toJSON(): string {
    return this.text;
  }
}

/**
 * Depth of a value whose object keys are already in sorted order at every level and that holds
 * no DecimalText, or -1: such a value's canonical text is plain JSON.stringify (the fast path).
 */
function sortedDepth(v: unknown, depth: number): number {
  if (v === null || typeof v !== "object") return depth;
  if (v instanceof DecimalText) return -1;
  let max = depth;
  if (Array.isArray(v)) {
    for (const x of v) {
      const d = sortedDepth(x, depth + 1);
      if (d < 0) return -1;
      if (d > max) max = d;
    }
    return max;
  }
  let prev = "";
  let first = true;
  for (const k in v) {
    if (!first && k < prev) return -1;
    first = false;
    prev = k;
    const d = sortedDepth((v as Record<string, unknown>)[k], depth + 1);
    if (d < 0) return -1;
    if (d > max) max = d;
  }
  return max;
}

export interface CanonicalJson {
  text: string;
  depth: number;
}

/**
 * JSON with object keys sorted at every level, so that the same content always has the same text
 * (re-sent records compare equal whatever their key order). Returns the text and the nesting depth.
 */
export function canonicalJson(value: unknown): CanonicalJson {
  const fast = sortedDepth(value, 0);
  if (fast >= 0) return { text: JSON.stringify(value), depth: fast };
  let maxDepth = 0;
  const walk = (v: unknown, depth: number): string => {
    if (depth > maxDepth) maxDepth = depth;
    if (v === null || typeof v === "boolean") return String(v);
    if (typeof v === "number") return Number.isFinite(v) ? JSON.stringify(v) : "null";
    if (typeof v === "string") return JSON.stringify(v);
    if (v instanceof DecimalText) return v.text;
    if (Array.isArray(v)) return `[${v.map((x) => walk(x, depth + 1)).join(",")}]`;
    if (typeof v === "object") {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${walk(o[k], depth + 1)}`).join(",")}}`;
    }
    return "null";
  };
  const text = walk(value, 0);
  return { text, depth: maxDepth };
}

/** Nesting depth of a JSON value, or -1 when it holds a DecimalText (exact numbers from the lossless parse). */
function plainDepth(v: unknown, depth: number): number {
  if (v === null || typeof v !== "object") return depth;
  if (v instanceof DecimalText) return -1;
  let max = depth;
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const d = plainDepth(o[k], depth + 1);
    if (d < 0) return -1;
    if (d > max) max = d;
  }
  return max;
}

/**
 * A JSON value's text as sent (key order kept) and its depth: native JSON.stringify on the hot
 * path; values holding exact numbers are written by the canonical writer, which keeps their digits.
 */
export function jsonText(value: unknown): CanonicalJson {
  const depth = plainDepth(value, 0);
  return depth >= 0 ? { text: JSON.stringify(value), depth } : canonicalJson(value);
}

/**
 * Whether two stored JSON texts hold the same value: equal texts (the usual case for a re-send),
 * or equal after sorting keys. Numbers compare by their digits (lossless parse).
 */
export function sameJson(a: string | null, b: string | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  const exact = (t: string) => canonicalJson(parseLossless(t, null, (d) => new DecimalText(d))).text;
  try {
    return exact(a) === exact(b);
  } catch {
    return false;
  }
}
