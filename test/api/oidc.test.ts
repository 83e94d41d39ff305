import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRoleAssignment } from "../../src/auth/assignments.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

/**
 * A real OpenID Connect provider on loopback: a discovery document and a JWKS that the test can
 * rotate, counting the fetches tally makes.
 */
class LoopbackIdp {
  server: Server | undefined;
  issuer = "";
  keys: JWK[] = [];
  fetches = { discovery: 0, jwks: 0 };

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      if (req.url === "/.well-known/openid-configuration") {
        this.fetches.discovery++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ issuer: this.issuer, jwks_uri: `${this.issuer}/keys` }));
      } else if (req.url === "/keys") {
        this.fetches.jwks++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: this.keys }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

async function newKey(
  kid: string,
  alg = "RS256",
): Promise<{ kid: string; alg: string; key: PrivateKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, key: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

const AUDIENCE = "api://tally";
const D1 = guid(0x0d1);
const S1 = guid(0x051);

describe.each(DIALECTS)("OIDC tokens on %s", (dialect) => {
  const idp = new LoopbackIdp();
  let t: TestApp;
  let k1: Awaited<ReturnType<typeof newKey>>;
  let k2: Awaited<ReturnType<typeof newKey>>;
  const nowSec = () => Math.floor(t.clock.now() / 1000);

  const token = (
    k: { kid: string; alg: string; key: PrivateKey },
    claims: JWTPayload = {},
    o: { iss?: string; aud?: string; exp?: number; nbf?: number } = {},
  ) => {
    const jwt = new SignJWT({ oid: "user-oid-1", tid: D1, name: "Ada", ...claims })
      .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: "JWT" })
      .setIssuer(o.iss ?? idp.issuer)
      .setAudience(o.aud ?? AUDIENCE)
      .setSubject("pairwise-sub-1")
      .setIssuedAt(nowSec())
      .setExpirationTime(o.exp ?? nowSec() + 3600);
    if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
    return jwt.sign(k.key);
  };
  const get = (tok: string, url = `/api/v1/subscriptions/${S1}`) =>
    t.app.inject({ url, headers: { authorization: `Bearer ${tok}` } });
  const refused = async (tok: string, reason: RegExp) => {
    const r = await get(tok);
    expect(r.statusCode).toBe(401);
    expect(r.headers["www-authenticate"]).toMatch(/^Bearer realm="tally", error="invalid_token"/);
    expect(r.json().error.message).toMatch(reason);
  };

  beforeAll(async () => {
    await idp.start();
    k1 = await newKey("k1");
    k2 = await newKey("k2", "ES256");
    idp.keys = [k1.jwk];
    t = await openTestApp(dialect, {
      env: {
        TALLY_AUTH_MODE: "oidc",
        TALLY_OIDC_ISSUER: idp.issuer,
        TALLY_OIDC_AUDIENCE: `other-app, ${AUDIENCE}`,
        TALLY_OIDC_JWKS_COOLDOWN: "1s",
      },
    });
    // The operator grants roles to identity-provider principals (here through the service, as the
    // local CLI would through its in-process API).
    const operator = {
      id: t.svc.system.operatorPrincipalId,
      kind: "operator" as const,
      displayName: "Operator",
      directoryId: null,
    };
    const actor = { principalId: operator.id, requestId: "oidc-setup" };
    const { createDirectory } = await import("../../src/directories/service.js");
    const { createSubscription } = await import("../../src/subscriptions/service.js");
    await createDirectory(t.svc, actor, { id: D1, displayName: "OIDC tenant" });
    await createSubscription(
      t.svc,
      actor,
      { id: S1, displayName: "S1", directoryId: D1 },
      { rootProviderId: "operator" },
    );
    await createRoleAssignment(t.svc, operator, actor, {
      principalId: "user-oid-1",
      role: "Reader",
      scope: `/subscriptions/${S1}`,
    });
    await createRoleAssignment(t.svc, operator, actor, {
      principalId: "app-oid-1",
      role: "Reader",
      scope: `/subscriptions/${S1}`,
    });
  });
  afterAll(async () => {
    await t.cleanup();
    await idp.stop();
  });

  it("accepts a token from the provider: oid is the principal, tid its directory", async () => {
    const r = await get(await token(k1));
    expect(r.statusCode).toBe(200);
    expect(r.json().id).toBe(S1);
    expect(idp.fetches).toEqual({ discovery: 1, jwks: 1 });
    const row = await t.svc.store.db
      .selectFrom("principals")
      .selectAll()
      .where("id", "=", "user-oid-1")
      .executeTakeFirst();
    expect(row).toMatchObject({ kind: "user", directory_id: D1, display_name: "Ada" });
    // Without oid, sub names the principal; app-only tokens make service principals.
    expect((await get(await token(k1, { oid: undefined }))).statusCode).toBe(404); // holds no role
    expect(
      await t.svc.store.db
        .selectFrom("principals")
        .select("id")
        .where("id", "=", "pairwise-sub-1")
        .executeTakeFirst(),
    ).toBeDefined();
    const app = await get(await token(k1, { oid: "app-oid-1", idtyp: "app" }));
    expect(app.statusCode).toBe(200);
    const svcRow = await t.svc.store.db
      .selectFrom("principals")
      .selectAll()
      .where("id", "=", "app-oid-1")
      .executeTakeFirst();
    expect(svcRow?.kind).toBe("service");
    // The list is scoped to what the principal holds.
    const list = (await get(await token(k1), "/api/v1/subscriptions")).json();
    expect(list.items.map((s: { id: string }) => s.id)).toEqual([S1]);
  });

  it("answers a principal without a role 404 on the resource, not 200", async () => {
    const r = await get(await token(k1, { oid: "stranger" }));
    expect(r.statusCode).toBe(404);
  });

  it("refuses tokens of the wrong issuer or audience, expired or not yet valid", async () => {
    await refused(await token(k1, {}, { iss: "https://evil.example.com" }), /'iss' claim/);
    await refused(await token(k1, {}, { aud: "api://someone-else" }), /'aud' claim/);
    await refused(await token(k1, {}, { exp: nowSec() - 120 }), /expired/);
    expect((await get(await token(k1, {}, { exp: nowSec() - 30 }))).statusCode).toBe(200); // within the 60 s skew
    await refused(await token(k1, {}, { nbf: nowSec() + 600 }), /'nbf' claim/);
    expect((await get(await token(k1, {}, { nbf: nowSec() + 30 }))).statusCode).toBe(200);
  });

  it("refuses alg none, HS256 keyed with the provider's public key, and tally's own tokens", async () => {
    const none = new UnsecuredJWT({ oid: "user-oid-1", tid: D1 })
      .setIssuer(idp.issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowSec())
      .setExpirationTime(nowSec() + 600)
      .encode();
    await refused(none, /algorithm/);
    const secret = new TextEncoder().encode(JSON.stringify(k1.jwk));
    const hs = await new SignJWT({ oid: "user-oid-1" })
      .setProtectedHeader({ alg: "HS256", kid: "k1" })
      .setIssuer(idp.issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowSec())
      .setExpirationTime(nowSec() + 600)
      .sign(secret);
    await refused(hs, /algorithm/);
    const embedded = await t.svc.tokens.sign({ subject: t.svc.system.operatorPrincipalId, ttlMs: 600_000 });
    await refused(embedded, /algorithm|unknown key|'iss' claim/);
    await refused("not-a-jwt", /malformed/);
  });

  it("refetches the key set for an unknown kid no more often than the cooldown, and follows a rotation", async () => {
    const stranger = await newKey("k-unknown");
    await sleep(1_100);
    const before = idp.fetches.jwks;
    for (let i = 0; i < 10; i++) await refused(await token(stranger), /unknown key/);
    expect(idp.fetches.jwks - before).toBe(1);

    // The provider rotates: k2 replaces k1.
    idp.keys = [k2.jwk];
    expect((await get(await token(k2))).statusCode).toBe(401); // still cooling down from the fetch above
    await sleep(1_100);
    const r = await get(await token(k2));
    expect(r.statusCode).toBe(200);
    expect(idp.fetches.jwks - before).toBe(2);
    // k1 is gone from the provider's set, so its tokens no longer verify.
    await refused(await token(k1), /unknown key/);
    expect(idp.fetches.discovery).toBe(1);
  });

  it("answers 503 when the provider's keys cannot be fetched", async () => {
    const dead = new LoopbackIdp();
    await dead.start();
    const issuer = dead.issuer;
    await dead.stop();
    const t2 = await openTestApp(dialect, {
      env: { TALLY_AUTH_MODE: "oidc", TALLY_OIDC_ISSUER: issuer, TALLY_OIDC_AUDIENCE: AUDIENCE },
    });
    try {
      const tok = await token(k1, {}, { iss: issuer });
      const r = await t2.app.inject({
        url: "/api/v1/subscriptions",
        headers: { authorization: `Bearer ${tok}` },
      });
      expect(r.statusCode).toBe(503);
      expect(r.json().error.code).toBe("ServiceUnavailable");
      expect((await t2.app.inject({ url: "/.well-known/jwks.json" })).statusCode).toBe(404);
    } finally {
      await t2.cleanup();
    }
  });
});
