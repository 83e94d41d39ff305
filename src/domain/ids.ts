import { randomUUID } from "node:crypto";

const GUID = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;
const HEX32 = /^[0-9A-F]{32}$/;

/** Whether `s` is already a canonical GUID (lower-case hex, hyphenated): checked without a regex, on the hot path. */
export function isCanonicalGuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** A GUID in its canonical lower-case hyphenated form, or undefined if `s` is not a GUID. */
export function canonicalGuid(s: string): string | undefined {
  if (isCanonicalGuid(s)) return s;
  if (!GUID.test(s)) return undefined;
  const h = s.replaceAll("-", "").toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const newGuid = (): string => randomUUID();

/**
 * Meter ids compare case- and hyphen-insensitively: the catalogue writes the network meters as
 * 32 hex digits and the others as GUIDs of either case. The key is 32 upper-case hex digits.
 */
export function meterKey(id: string): string | undefined {
  const k = id.replaceAll("-", "").toUpperCase();
  return HEX32.test(k) && (id.length === 32 || GUID.test(id)) ? k : undefined;
}

/** Provider and source ids: short, URL-safe, chosen by the operator or generated. */
export const SLUG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
