import { createHash, randomBytes } from "node:crypto";

/**
 * Source API keys: `tsk_` + 43 base64url characters (256 random bits). Only the SHA-256 of a key
 * is stored; with that much entropy a plain hash is as strong as a slow one and lets the ingest
 * path verify a key with one indexed lookup.
 */
export const KEY_PREFIX = "tsk_";

export function newApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

export const hashApiKey = (key: string): string => createHash("sha256").update(key).digest("hex");

/** The first characters of a key, safe to show in listings and logs. */
export const displayPrefix = (key: string): string => key.slice(0, KEY_PREFIX.length + 6);

export const looksLikeApiKey = (s: string): boolean =>
  s.startsWith(KEY_PREFIX) && s.length === KEY_PREFIX.length + 43;
