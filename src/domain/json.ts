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

export interface CanonicalJson {
  text: string;
  depth: number;
}

/**
 * JSON with object keys sorted at every level, so that the same content always has the same text
 * (re-sent records compare equal whatever their key order). Returns the text and the nesting depth.
 */
export function canonicalJson(value: unknown): CanonicalJson {
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
