import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

/**
 * tally's own token signing keys (embedded mode), kept in `<data dir>/keys/jwt-keys.json`, readable
 * only by the owner. The newest key signs; every key in the file verifies, so after a rotation
 * tokens signed by the previous key keep working until they expire.
 */
export const SIGNING_ALG = "ES256";

export interface StoredKey {
  kid: string;
  createdAt: string;
  /** Set when a newer key took over signing; the key is dropped once its tokens can have expired. */
  retiredAt?: string;
  privateJwk: JWK;
}

interface KeyFile {
  keys: StoredKey[];
}

export const keyFilePath = (dataDir: string) => join(dataDir, "keys", "jwt-keys.json");

function writeKeyFile(path: string, file: KeyFile): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

async function newKey(now: number): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = `k${now.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return { kid, createdAt: new Date(now).toISOString(), privateJwk: { ...jwk, kid, alg: SIGNING_ALG } };
}

/** Reads the key file, creating it with one key on first start, and tightening loose permissions. */
export async function loadOrCreateKeys(dataDir: string, now: number): Promise<StoredKey[]> {
  const dir = join(dataDir, "keys");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = keyFilePath(dataDir);
  if (!existsSync(path)) {
    writeKeyFile(path, { keys: [await newKey(now)] });
  } else if ((statSync(path).mode & 0o077) !== 0) {
    chmodSync(path, 0o600);
  }
  const file = JSON.parse(readFileSync(path, "utf8")) as KeyFile;
  if (!Array.isArray(file.keys) || file.keys.length === 0) throw new Error(`${path} holds no signing key`);
  return file.keys;
}

/**
 * Adds a new signing key, retires the current ones, and drops retired keys older than
 * `maxTokenTtlMs` (no token they signed can still be valid).
 */
export async function rotateKeys(dataDir: string, now: number, maxTokenTtlMs: number): Promise<StoredKey> {
  const keys = await loadOrCreateKeys(dataDir, now);
  const kept = keys
    .filter((k) => k.retiredAt === undefined || Date.parse(k.retiredAt) + maxTokenTtlMs > now)
    .map((k) => (k.retiredAt === undefined ? { ...k, retiredAt: new Date(now).toISOString() } : k));
  const key = await newKey(now);
  writeKeyFile(keyFilePath(dataDir), { keys: [...kept, key] });
  return key;
}

export const importKey = (k: StoredKey) => importJWK(k.privateJwk, SIGNING_ALG);

export function publicJwk(k: StoredKey): JWK {
  const { d: _d, ...pub } = k.privateJwk;
  return pub;
}
