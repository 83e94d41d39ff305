import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RegistrationError } from "../../src/bridge/errors.js";
import { SecretBox, SecretUnavailable } from "../../src/bridge/secrets.js";
import { decodeRegistrationToken, encodeRegistrationToken } from "../../src/bridge/token.js";

describe("sealed secrets", () => {
  const dir = mkdtempSync(join(tmpdir(), "tally-secrets-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("seals with a key only the owner can read, and opens only in the same context", () => {
    const box = new SecretBox(dir);
    const sealed = box.seal("tsk_secret", "reg-1");
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain("tsk_secret");
    expect(box.seal("tsk_secret", "reg-1")).not.toBe(sealed); // a fresh IV each time
    expect(statSync(join(dir, "keys", "secret-box.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "keys")).mode & 0o777).toBe(0o700);
    expect(new SecretBox(dir).open(sealed, "reg-1")).toBe("tsk_secret");
    expect(() => box.open(sealed, "reg-2")).toThrow(SecretUnavailable);
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith("A") ? "B" : "A"}A`;
    expect(() => box.open(tampered, "reg-1")).toThrow(SecretUnavailable);
  });

  it("says so when the key file is gone or replaced, instead of creating a new one to open with", () => {
    const other = mkdtempSync(join(tmpdir(), "tally-secrets-"));
    try {
      const sealed = new SecretBox(dir).seal("x", "c");
      expect(() => new SecretBox(other).open(sealed, "c")).toThrow(/missing/);
      new SecretBox(other).seal("y", "c");
      expect(() => new SecretBox(other).open(sealed, "c")).toThrow(/cannot be opened/);
      writeFileSync(join(other, "keys", "secret-box.key"), "c2hvcnQ=\n");
      expect(() => new SecretBox(other).open(sealed, "c")).toThrow(/32 bytes/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe("registration tokens", () => {
  it("round-trips the registration's properties", () => {
    const t = encodeRegistrationToken({ billingModel: "Capacity", usageReportingEnabled: false });
    expect(decodeRegistrationToken(t)).toEqual({ billingModel: "Capacity", usageReportingEnabled: false });
  });

  it("refuses what is not a token, naming the problem", () => {
    expect(() => decodeRegistrationToken("%%%")).toThrow(RegistrationError);
    const unknown = Buffer.from(JSON.stringify({ billingModel: "Free" })).toString("base64");
    expect(() => decodeRegistrationToken(unknown)).toThrow(/billingModel/);
    const extra = Buffer.from(JSON.stringify({ cloudId: "x" })).toString("base64");
    expect(() => decodeRegistrationToken(extra)).toThrow(/not valid/);
  });
});
