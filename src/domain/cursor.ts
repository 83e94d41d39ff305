import { DomainError } from "./errors.js";

/**
 * Opaque keyset cursors for native list endpoints: base64url of the last row's sort key. They are
 * not secrets; a malformed one answers `InvalidCursor`.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodeCursor<const T extends readonly ("string" | "number")[]>(
  cursor: string,
  shape: T,
): { [K in keyof T]: T[K] extends "string" ? string : number } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    value = undefined;
  }
  if (
    !Array.isArray(value) ||
    value.length !== shape.length ||
    !value.every((v, i) => typeof v === shape[i] && (typeof v !== "number" || Number.isFinite(v)))
  ) {
    throw new DomainError(
      "InvalidCursor",
      "cursor is not a cursor returned by this list; start again without it.",
    );
  }
  return value as { [K in keyof T]: T[K] extends "string" ? string : number };
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Given `limit + 1` fetched rows, returns the page and the cursor that follows it. */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  map: (r: R) => T,
  key: (r: R) => (string | number)[],
): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept.at(-1);
  return { items: kept.map(map), nextCursor: more && last !== undefined ? encodeCursor(key(last)) : null };
}
