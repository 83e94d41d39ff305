import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Seals secrets tally must use but never show (the bridge's upstream credential) with AES-256-GCM
 * under a key kept in `<data dir>/keys/secret-box.key` (owner-only, created on first use). The
 * database alone, a backup of it or the audit log never holds a usable secret; nodes sharing
 * PostgreSQL share the key file, as they share the token signing keys.
 */
export class SecretUnavailable extends Error {
  override name = "SecretUnavailable";
}

const VERSION = "v1";

export class SecretBox {
  private key: Buffer | undefined;

  constructor(private readonly dataDir: string) {}

  private get path(): string {
    return join(this.dataDir, "keys", "secret-box.key");
  }

  private load(create: boolean): Buffer {
    if (this.key) return this.key;
    const dir = join(this.dataDir, "keys");
    try {
      this.key = Buffer.from(readFileSync(this.path, "utf8").trim(), "base64");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      if (!create) throw new SecretUnavailable(`the secret key ${this.path} is missing`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      try {
        // `wx`: when two nodes race to create it, one wins and the other reads the winner's key.
        writeFileSync(this.path, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
      } catch (w) {
        if ((w as NodeJS.ErrnoException).code !== "EEXIST") throw w;
      }
      this.key = Buffer.from(readFileSync(this.path, "utf8").trim(), "base64");
    }
    if (this.key.length !== 32) {
      this.key = undefined;
      throw new SecretUnavailable(`the secret key ${this.path} is not 32 bytes of base64`);
    }
    return this.key;
  }

  /** Seals `plain`, bound to `context` (e.g. the registration's id) so a sealed value cannot be moved. */
  seal(plain: string, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.load(true), iv);
    c.setAAD(Buffer.from(context));
    const body = Buffer.concat([c.update(plain, "utf8"), c.final()]);
    return `${VERSION}.${Buffer.concat([iv, c.getAuthTag(), body]).toString("base64url")}`;
  }

  open(sealed: string, context: string): string {
    const [version, data] = sealed.split(".");
    if (version !== VERSION || data === undefined)
      throw new SecretUnavailable("the sealed secret is malformed");
    const raw = Buffer.from(data, "base64url");
    try {
      const d = createDecipheriv("aes-256-gcm", this.load(false), raw.subarray(0, 12));
      d.setAAD(Buffer.from(context));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
    } catch (e) {
      if (e instanceof SecretUnavailable) throw e;
      throw new SecretUnavailable(
        `the secret cannot be opened with ${this.path} (was the key file replaced?); set it again`,
      );
    }
  }
}
