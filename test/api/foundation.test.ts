import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManualClock } from "../../src/clock.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";

describe.each(DIALECTS)("foundation API on %s", (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect);
  });
  afterAll(async () => t.cleanup());

  const req = (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: method as "GET",
      url,
      headers: { ...t.op, ...headers },
      ...(body === undefined ? {} : { payload: body as object }),
    });

  describe("health, metrics and the API description", () => {
    it("answers /healthz and /readyz without a token", async () => {
      expect((await t.app.inject({ url: "/healthz" })).json()).toEqual({ status: "ok" });
      const ready = await t.app.inject({ url: "/readyz" });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: "ok" });
    });

    it("exposes Prometheus metrics", async () => {
      await t.app.inject({ url: "/healthz" });
      const m = await t.app.inject({ url: "/metrics" });
      expect(m.statusCode).toBe(200);
      expect(m.headers["content-type"]).toMatch(/text\/plain/);
      expect(m.body).toMatch(/tally_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    });

    it("serves an OpenAPI document generated from the route schemas", async () => {
      const doc = (await t.app.inject({ url: "/openapi.json" })).json();
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          "/api/v1/directories",
          "/api/v1/directories/{id}",
          "/api/v1/subscriptions",
          "/api/v1/sources",
        ]),
      );
      expect(
        doc.paths["/api/v1/directories"].post.requestBody.content["application/json"].schema.required,
      ).toEqual(["id", "displayName"]);
    });
  });

  describe("authentication", () => {
    it("refuses a request without a token with 401, WWW-Authenticate and the error envelope", async () => {
      const r = await t.app.inject({ url: "/api/v1/directories" });
      expect(r.statusCode).toBe(401);
      expect(r.headers["www-authenticate"]).toMatch(/^Bearer realm="tally"/);
      const body = r.json();
      expect(body.error.code).toBe("Unauthenticated");
      expect(body.error.requestId).toBe(r.headers["x-request-id"]);
      expect(Object.keys(body.error).sort()).toEqual(["code", "message", "requestId"]);
    });

    it("refuses malformed, foreign, expired and wrong-audience tokens", async () => {
      const bad = async (authorization: string) => {
        const r = await t.app.inject({ url: "/api/v1/directories", headers: { authorization } });
        expect(r.statusCode).toBe(401);
        expect(r.headers["www-authenticate"]).toMatch(/error="invalid_token"/);
        return r.json().error.message as string;
      };
      expect(await bad("Basic abc")).toMatch(/Bearer/);
      expect(await bad("Bearer not.a.jwt")).toMatch(/malformed|not valid/);
      const { privateKey } = await generateKeyPair("ES256");
      const now = Math.floor(t.clock.now() / 1000);
      const foreign = await new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: "other" })
        .setSubject(t.svc.system.operatorPrincipalId)
        .setIssuer("tally")
        .setAudience("tally")
        .setExpirationTime(now + 600)
        .sign(privateKey);
      expect(await bad(`Bearer ${foreign}`)).toMatch(/unknown key/);
      const wrongAud = await t.svc.tokens.sign({ subject: "x", ttlMs: 600_000 }).then((tok) => tok);
      // Same key, other audience: build by hand to change only the audience.
      const parts = wrongAud.split(".");
      const payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString());
      payload.aud = "someone-else";
      const tampered = [parts[0], Buffer.from(JSON.stringify(payload)).toString("base64url"), parts[2]].join(
        ".",
      );
      expect(await bad(`Bearer ${tampered}`)).toMatch(/signature/);
      const short = await t.svc.tokens.sign({ subject: t.svc.system.operatorPrincipalId, ttlMs: 60_000 });
      (t.clock as ManualClock).advance(10 * 60_000);
      try {
        expect(await bad(`Bearer ${short}`)).toMatch(/expired/);
      } finally {
        (t.clock as ManualClock).advance(-10 * 60_000);
      }
    });

    it("does not accept a source API key where a token is needed", async () => {
      const src = (await req("POST", "/api/v1/sources", { name: "auth-probe" })).json();
      const r = await t.app.inject({ url: "/api/v1/directories", headers: { "x-api-key": src.apiKey } });
      expect(r.statusCode).toBe(401);
    });

    it("refuses principals that hold no role, and shows them empty lists", async () => {
      const token = await t.svc.tokens.sign({ subject: "someone", ttlMs: 600_000 });
      const as = (url: string) => t.app.inject({ url, headers: { authorization: `Bearer ${token}` } });
      const r = await as("/api/v1/sources");
      expect(r.statusCode).toBe(403);
      expect(r.json().error.code).toBe("Forbidden");
      const dirs = await as("/api/v1/directories");
      expect(dirs.statusCode).toBe(200);
      expect(dirs.json().items).toEqual([]);
    });

    it("echoes a well-formed x-request-id and replaces a hostile one", async () => {
      const r1 = await t.app.inject({ url: "/healthz", headers: { "x-request-id": "abc-123" } });
      expect(r1.headers["x-request-id"]).toBe("abc-123");
      const r2 = await t.app.inject({ url: "/healthz", headers: { "x-request-id": "a b\nc" } });
      expect(r2.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe("directories", () => {
    it("creates, reads, lists with cursors, renames and deletes", async () => {
      const ids = [guid(0x101), guid(0x102), guid(0x103)];
      for (const [i, id] of ids.entries()) {
        const r = await req("POST", "/api/v1/directories", { id, displayName: `Tenant ${i}` });
        expect(r.statusCode).toBe(201);
        expect(r.json()).toMatchObject({ id, displayName: `Tenant ${i}` });
      }
      const upper = guid(0x104).toUpperCase();
      expect((await req("POST", "/api/v1/directories", { id: upper, displayName: "Upper" })).json().id).toBe(
        guid(0x104),
      );

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: { id: string }[]; nextCursor: string | null } = (
          await req("GET", `/api/v1/directories?limit=2${cursor ? `&cursor=${cursor}` : ""}`)
        ).json();
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((d: { id: string }) => d.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...seen].sort());
      expect(seen).toEqual(expect.arrayContaining([...ids, guid(0x104), t.svc.system.operatorDirectoryId]));
      expect(new Set(seen).size).toBe(seen.length);

      expect(
        (await req("PATCH", `/api/v1/directories/${ids[0]}`, { displayName: "Renamed" })).json().displayName,
      ).toBe("Renamed");
      expect((await req("GET", `/api/v1/directories/${ids[0]}`)).json().displayName).toBe("Renamed");
      expect((await req("DELETE", `/api/v1/directories/${ids[2]}`)).statusCode).toBe(204);
      expect((await req("GET", `/api/v1/directories/${ids[2]}`)).statusCode).toBe(404);
    });

    it("answers 409 for a duplicate, 404 for an unknown id, 400 naming the field", async () => {
      await req("POST", "/api/v1/directories", { id: guid(0x110), displayName: "Dup" });
      const dup = await req("POST", "/api/v1/directories", { id: guid(0x110), displayName: "Dup" });
      expect(dup.statusCode).toBe(409);
      expect(dup.json().error.code).toBe("AlreadyExists");
      expect((await req("GET", `/api/v1/directories/${guid(0x999)}`)).statusCode).toBe(404);
      const bad = await req("POST", "/api/v1/directories", { id: "not-a-guid", displayName: "" });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe("ValidationFailed");
      expect(bad.json().error.details).toEqual(
        expect.arrayContaining([
          { field: "id", reason: "must be a GUID" },
          { field: "displayName", reason: "must not be empty" },
        ]),
      );
      const extra = await req("POST", "/api/v1/directories", {
        id: guid(0x111),
        displayName: "X",
        colour: "red",
      });
      expect(extra.statusCode).toBe(400);
      const badCursor = await req("GET", "/api/v1/directories?cursor=zzz");
      expect(badCursor.statusCode).toBe(400);
      expect(badCursor.json().error.code).toBe("InvalidCursor");
    });

    it("answers malformed JSON with its position, wrong media types with 415, huge bodies with 413", async () => {
      const r = await req("POST", "/api/v1/directories", '{"id": "x",', {
        "content-type": "application/json",
      });
      expect(r.statusCode).toBe(400);
      expect(r.json().error.message).toMatch(/JSON/);
      expect(r.json().error.message).toMatch(/position|end of JSON/i);
      const m = await req("POST", "/api/v1/directories", "id=x", {
        "content-type": "application/x-www-form-urlencoded",
      });
      expect(m.statusCode).toBe(415);
      const huge = JSON.stringify({ id: guid(1), displayName: "x".repeat(2 * 1024 * 1024) });
      const h = await req("POST", "/api/v1/directories", huge, { "content-type": "application/json" });
      expect(h.statusCode).toBe(413);
      expect(h.json().error.code).toBe("PayloadTooLarge");
    });

    it("refuses to delete a directory that still has subscriptions", async () => {
      await req("POST", "/api/v1/directories", { id: guid(0x120), displayName: "Busy" });
      await req("POST", "/api/v1/subscriptions", { displayName: "S", directoryId: guid(0x120) });
      const r = await req("DELETE", `/api/v1/directories/${guid(0x120)}`);
      expect(r.statusCode).toBe(409);
    });
  });

  describe("providers and subscriptions", () => {
    it("builds a provider tree whose provider subscriptions are direct tenants of the parent", async () => {
      const root = (await req("GET", "/api/v1/providers/operator")).json();
      expect(root).toMatchObject({
        id: "operator",
        parentId: null,
        subscriptionId: t.svc.system.defaultProviderSubscriptionId,
      });
      const p1 = await req("POST", "/api/v1/providers", { id: "reseller-1", displayName: "Reseller One" });
      expect(p1.statusCode).toBe(201);
      expect(p1.json()).toMatchObject({ id: "reseller-1", parentId: "operator" });
      const p3 = (
        await req("POST", "/api/v1/providers", {
          id: "reseller-3",
          displayName: "Sub-reseller",
          parentId: "reseller-1",
        })
      ).json();
      const ps = (await req("GET", `/api/v1/subscriptions/${p3.subscriptionId}`)).json();
      expect(ps).toMatchObject({
        providerId: "reseller-1",
        state: "Active",
        directoryId: t.svc.system.operatorDirectoryId,
      });
      const children = (await req("GET", "/api/v1/providers?parentId=reseller-1")).json();
      expect(children.items.map((p: { id: string }) => p.id)).toEqual(["reseller-3"]);
      expect(
        (await req("POST", "/api/v1/providers", { displayName: "Orphan", parentId: "nope" })).statusCode,
      ).toBe(400);
      expect(
        (await req("POST", "/api/v1/providers", { id: "reseller-1", displayName: "Again" })).statusCode,
      ).toBe(409);
      expect((await req("DELETE", "/api/v1/providers/operator")).statusCode).toBe(409);
      expect((await req("DELETE", "/api/v1/providers/reseller-1")).statusCode).toBe(409);
    });

    it("creates, filters, updates and soft-deletes subscriptions", async () => {
      await req("POST", "/api/v1/directories", { id: guid(0x200), displayName: "Fabrikam" });
      await req("POST", "/api/v1/offers", { id: "MS-AZR-0003P", displayName: "Pay-As-You-Go" });
      const created = await req("POST", "/api/v1/subscriptions", {
        id: guid(0x201),
        displayName: "Prod",
        directoryId: guid(0x200),
        providerId: "reseller-3",
        offerId: "MS-AZR-0003P",
      });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({
        id: guid(0x201),
        state: "Active",
        providerId: "reseller-3",
        offerId: "MS-AZR-0003P",
      });
      const bad = await req("POST", "/api/v1/subscriptions", { displayName: "x", directoryId: guid(0x999) });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.details[0].field).toBe("directoryId");

      const byDir = (await req("GET", `/api/v1/subscriptions?directoryId=${guid(0x200)}`)).json();
      expect(byDir.items.map((s: { id: string }) => s.id)).toEqual([guid(0x201)]);
      const byProvider = (await req("GET", "/api/v1/subscriptions?providerId=reseller-3")).json();
      expect(byProvider.items).toHaveLength(1);

      expect(
        (await req("PATCH", `/api/v1/subscriptions/${guid(0x201)}`, { state: "Disabled" })).json().state,
      ).toBe("Disabled");
      const del = await req("DELETE", `/api/v1/subscriptions/${guid(0x201)}`);
      expect(del.statusCode).toBe(200);
      expect(del.json()).toMatchObject({ state: "Deleted" });
      expect(del.json().deletedAt).toEqual(expect.any(String));
      expect((await req("GET", `/api/v1/subscriptions/${guid(0x201)}`)).json().state).toBe("Deleted");
      expect((await req("GET", `/api/v1/subscriptions?directoryId=${guid(0x200)}`)).json().items).toEqual([]);
      expect(
        (await req("GET", `/api/v1/subscriptions?directoryId=${guid(0x200)}&state=Deleted`)).json().items,
      ).toHaveLength(1);
      const revive = await req("PATCH", `/api/v1/subscriptions/${guid(0x201)}`, { state: "Active" });
      expect(revive.statusCode).toBe(409);
      expect((await req("PATCH", `/api/v1/subscriptions/${guid(0x201)}`, {})).statusCode).toBe(400);

      // Once it offers only deleted subscriptions and has no children, a delegated provider can go.
      expect((await req("DELETE", "/api/v1/providers/reseller-3")).statusCode).toBe(204);
      const p3sub = (await req("GET", `/api/v1/subscriptions?providerId=reseller-1&state=Deleted`)).json();
      expect(p3sub.items).toHaveLength(1);
      expect((await req("GET", "/api/v1/providers/reseller-3")).statusCode).toBe(404);
    });
  });

  describe("sources and keys", () => {
    it("shows the key once, stores only a prefix, and rotates and revokes keys", async () => {
      const created = await req("POST", "/api/v1/sources", { name: "compute-rp" });
      expect(created.statusCode).toBe(201);
      const { id, apiKey } = created.json();
      expect(apiKey).toMatch(/^tsk_[A-Za-z0-9_-]{43}$/);
      const shown = (await req("GET", `/api/v1/sources/${id}`)).json();
      expect(JSON.stringify(shown)).not.toContain(apiKey);
      expect(shown.keys).toHaveLength(1);
      expect(apiKey.startsWith(shown.keys[0].prefix)).toBe(true);
      expect((await req("GET", "/api/v1/sources/compute-rp")).json().id).toBe(id);
      const stored = await t.svc.store.db
        .selectFrom("source_keys")
        .select("key_hash")
        .where("source_id", "=", id)
        .execute();
      expect(stored.map((k) => k.key_hash).join()).not.toContain(apiKey);

      expect((await req("POST", "/api/v1/sources", { name: "compute-rp" })).statusCode).toBe(409);
      expect((await req("POST", "/api/v1/sources", { name: "bad name!" })).statusCode).toBe(400);

      const rotated = await req("POST", `/api/v1/sources/${id}/keys`, { grace: "0s" });
      expect(rotated.statusCode).toBe(201);
      const keys = (await req("GET", `/api/v1/sources/${id}`)).json().keys;
      expect(keys).toHaveLength(2);
      expect(keys[0].expiresAt).toBe(new Date(t.clock.now()).toISOString());
      expect((await req("DELETE", `/api/v1/sources/${id}/keys`)).json()).toEqual({ revoked: 2 });
      expect((await req("DELETE", `/api/v1/sources/${id}`)).statusCode).toBe(204);
      expect(
        (await req("GET", "/api/v1/sources")).json().items.map((s: { name: string }) => s.name),
      ).not.toContain("compute-rp");
    });
  });

  describe("meters", () => {
    it("finds meters case- and hyphen-insensitively and answers in catalogue form", async () => {
      const m = (await req("GET", "/api/v1/meters/fab6eb84500b4a09a8ca7358f8bbaea5")).json();
      expect(m).toMatchObject({
        id: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
        name: "Base VM Size Hours",
        unit: "virtual core hours",
      });
      const ip = (await req("GET", "/api/v1/meters/f271a8a3-88c4-4d93-956a-063e1d2fa80b")).json();
      expect(ip.id).toBe("F271A8A388C44D93956A063E1D2FA80B");
      const all = (await req("GET", "/api/v1/meters?limit=1000")).json();
      expect(all.items).toHaveLength(85);
      expect((await req("GET", "/api/v1/meters?status=deprecated&limit=1000")).json().items.length).toBe(23);
    });

    it("adds custom meters and deprecates meters", async () => {
      const c = await req("POST", "/api/v1/meters", {
        id: "0a1b2c3d-0000-4000-8000-00000000abcd",
        name: "GPU hours",
        unit: "GPU hours",
        category: "Compute",
      });
      expect(c.statusCode).toBe(201);
      expect(c.json()).toMatchObject({ origin: "custom", status: "current" });
      expect(
        (
          await req("POST", "/api/v1/meters", {
            id: "0A1B2C3D00004000800000000000ABCD",
            name: "x",
            unit: "x",
            category: "x",
          })
        ).statusCode,
      ).toBe(409);
      expect(
        (await req("POST", "/api/v1/meters", { id: "gpu", name: "x", unit: "x", category: "x" })).statusCode,
      ).toBe(400);
      expect(
        (
          await req("PATCH", "/api/v1/meters/6DAB500F-A4FD-49C4-956D-229BB9C8C793", { status: "deprecated" })
        ).json().status,
      ).toBe("deprecated");
      expect(
        (await req("PATCH", "/api/v1/meters/6DAB500F-A4FD-49C4-956D-229BB9C8C793", { name: "Renamed" }))
          .statusCode,
      ).toBe(409);
      expect(
        (
          await req("PATCH", "/api/v1/meters/0a1b2c3d-0000-4000-8000-00000000abcd", {
            name: "GPU hours (A100)",
          })
        ).json().name,
      ).toBe("GPU hours (A100)");
    });
  });

  describe("audit", () => {
    it("records every change with principal, action, target and request id", async () => {
      const r = await req(
        "POST",
        "/api/v1/directories",
        { id: guid(0x300), displayName: "Audited" },
        { "x-request-id": "audit-req-1" },
      );
      expect(r.statusCode).toBe(201);
      const rows = await t.svc.store.db
        .selectFrom("audit_log")
        .selectAll()
        .where("request_id", "=", "audit-req-1")
        .execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        principal_id: t.svc.system.operatorPrincipalId,
        action: "directories/write",
        target: `/directories/${guid(0x300)}`,
      });
    });
  });

  it("answers unknown routes with 404 in the envelope", async () => {
    const r = await req("GET", "/api/v1/nothing-here");
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe("NotFound");
  });
});
