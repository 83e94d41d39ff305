import { SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rotateKeys } from "../../src/auth/signing-keys.js";
import {
  EmbeddedTokens,
  KEY_RELOAD_INTERVAL_MS,
  type TokenIdentity,
  Unauthenticated,
  VERIFIED_TOKEN_TTL_MS,
  VerifiedTokens,
} from "../../src/auth/tokens.js";
import type { ManualClock } from "../../src/clock.js";
import { DIALECTS, openTestApp, type TestApp } from "../helpers.js";

const DAY = 86_400_000;

describe.each(DIALECTS)("embedded tokens and signing keys on %s", (dialect) => {
  let t: TestApp;
  let clock: ManualClock;
  /** Another process (the CLI) signing with the key file as it is now. */
  const cli = () =>
    new EmbeddedTokens({
      dataDir: t.dataDir,
      issuer: t.config.tokenIssuer,
      audience: t.config.tokenAudience,
      clockSkewSec: 60,
      maxTokenAgeSec: t.config.tokenMaxTtlMs / 1000,
      now: () => clock.now(),
    }).load();
  const status = async (tok: string) =>
    (await t.app.inject({ url: "/api/v1/sources", headers: { authorization: `Bearer ${tok}` } })).statusCode;
  const operatorToken = async (signer: EmbeddedTokens, ttlMs = 3_600_000) =>
    signer.sign({ subject: t.svc.system.operatorPrincipalId, ttlMs });

  beforeAll(async () => {
    t = await openTestApp(dialect);
    clock = t.clock as ManualClock;
  });
  afterAll(async () => t.cleanup());

  it("refuses alg none and HS256 keyed with the public key", async () => {
    const now = Math.floor(clock.now() / 1000);
    const none = new UnsecuredJWT({})
      .setSubject(t.svc.system.operatorPrincipalId)
      .setIssuer("tally")
      .setAudience("tally")
      .setExpirationTime(now + 600)
      .encode();
    expect(await status(none)).toBe(401);
    const jwks = (await t.app.inject({ url: "/.well-known/jwks.json" })).json();
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", kid: jwks.keys[0].kid })
      .setSubject(t.svc.system.operatorPrincipalId)
      .setIssuer("tally")
      .setAudience("tally")
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
    const r = await t.app.inject({ url: "/api/v1/sources", headers: { authorization: `Bearer ${hs}` } });
    expect(r.statusCode).toBe(401);
    expect(r.json().error.message).toMatch(/algorithm/);
  });

  it("publishes only public keys at /.well-known/jwks.json", async () => {
    const r = await t.app.inject({ url: "/.well-known/jwks.json" });
    expect(r.statusCode).toBe(200);
    const keys = r.json().keys as Record<string, string>[];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256" });
    expect(keys[0]).not.toHaveProperty("d");
  });

  it("refuses tokens older than TALLY_TOKEN_MAX_TTL whatever their expiry", async () => {
    const long = await operatorToken(t.svc.tokens, 60 * DAY);
    expect(await status(long)).toBe(200);
    clock.advance(31 * DAY);
    try {
      expect(await status(long)).toBe(401);
    } finally {
      clock.advance(-31 * DAY);
    }
  });

  it("picks up a key rotated by another process, at most every few seconds, and keeps old tokens valid", async () => {
    const old = await operatorToken(t.svc.tokens);
    // A made-up kid makes the server look at the key file (unchanged): nothing to reload.
    clock.advance(KEY_RELOAD_INTERVAL_MS);
    const fake = old.replace(
      /^[^.]+/,
      Buffer.from(JSON.stringify({ alg: "ES256", kid: "made-up" })).toString("base64url"),
    );
    expect(await status(fake)).toBe(401);

    await rotateKeys(t.dataDir, clock.now(), t.config.tokenMaxTtlMs);
    const fresh = await operatorToken(await cli());
    // The last look was just now: a bad token cannot make it look again so soon.
    expect(await status(fresh)).toBe(401);
    clock.advance(KEY_RELOAD_INTERVAL_MS);
    expect(await status(fresh)).toBe(200);
    expect(await status(old)).toBe(200);
    const kids = (await t.app.inject({ url: "/.well-known/jwks.json" }))
      .json()
      .keys.map((k: { kid: string }) => k.kid);
    expect(kids).toHaveLength(2);

    // Once tokens the retired key signed can have expired, the next rotation drops it.
    clock.advance(t.config.tokenMaxTtlMs + DAY);
    await rotateKeys(t.dataDir, clock.now(), t.config.tokenMaxTtlMs);
    const newest = await operatorToken(await cli());
    clock.advance(KEY_RELOAD_INTERVAL_MS);
    expect(await status(newest)).toBe(200);
    const after = (await t.app.inject({ url: "/.well-known/jwks.json" }))
      .json()
      .keys.map((k: { kid: string }) => k.kid);
    expect(after).toHaveLength(2);
    expect(after).not.toContain(kids[0]);
  });

  it("makes service principals of app-only tokens", async () => {
    const tok = await t.svc.tokens.sign({ subject: "automation-1", ttlMs: 600_000, service: true });
    expect(await status(tok)).toBe(403);
    const row = await t.svc.store.db
      .selectFrom("principals")
      .selectAll()
      .where("id", "=", "automation-1")
      .executeTakeFirst();
    expect(row?.kind).toBe("service");
  });
});

describe("verified tokens remembered", () => {
  it("skips the signature check of a token seen before, until its expiry, the TTL or a key set change", async () => {
    let now = 1_000_000;
    let keys = {};
    const checked: string[] = [];
    const identity = (validUntil: number): TokenIdentity => ({
      subject: "s",
      directoryId: undefined,
      name: undefined,
      kind: "user",
      validUntil,
    });
    const inner = {
      verify: async (token: string) => {
        checked.push(token);
        if (token === "bad") throw new Unauthenticated("no");
        return identity(token === "short" ? now + 5_000 : now + 3_600_000);
      },
      currentKeys: () => keys,
    };
    const v = new VerifiedTokens(inner, () => now);
    await v.verify("a");
    await v.verify("a");
    await v.verify("short");
    expect(checked).toEqual(["a", "short"]);
    now += 5_000; // "short" has expired; "a" is still remembered
    await v.verify("short").catch(() => undefined);
    await v.verify("a");
    expect(checked).toEqual(["a", "short", "short"]);
    now += VERIFIED_TOKEN_TTL_MS;
    await v.verify("a");
    expect(checked).toEqual(["a", "short", "short", "a"]);
    keys = {}; // the verifier reloaded its keys: nothing remembered stands
    await v.verify("a");
    expect(checked).toEqual(["a", "short", "short", "a", "a"]);
    await expect(v.verify("bad")).rejects.toThrow(Unauthenticated);
    await expect(v.verify("bad")).rejects.toThrow(Unauthenticated);
    expect(checked.filter((c) => c === "bad")).toHaveLength(2);
  });
});
