import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManualClock } from "../../src/clock.js";
import { routesOf } from "../../src/http/auth.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";

describe.each(DIALECTS)("audit log on %s", (dialect) => {
  let t: TestApp;
  let clock: ManualClock;
  const as = async (who: string, url: string, method = "GET", body?: unknown) =>
    t.app.inject({
      method: method as "GET",
      url,
      headers:
        who === "operator"
          ? t.op
          : { authorization: `Bearer ${await t.svc.tokens.sign({ subject: who, ttlMs: 3_600_000 })}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
  const start = Date.UTC(2026, 10, 23, 12, 0, 0);

  beforeAll(async () => {
    t = await openTestApp(dialect);
    clock = t.clock as ManualClock;
    for (let i = 0; i < 5; i++) {
      clock.set(start + i * 60_000);
      await as("operator", "/api/v1/directories", "POST", {
        id: guid(0x700 + i),
        displayName: `Audited ${i}`,
      });
    }
    await as("operator", "/api/v1/role-assignments", "POST", {
      principalId: "auditor",
      role: "Reader",
      scope: "/",
    });
    await as("operator", "/api/v1/role-assignments", "POST", {
      principalId: "p-admin",
      role: "Owner",
      scope: "/providers/operator-child",
    });
  });
  afterAll(async () => t.cleanup());

  it("lists entries newest first with filters and cursors", async () => {
    const r = await as("operator", "/api/v1/audit-log?target=/directories/&limit=2");
    expect(r.statusCode).toBe(200);
    const page1 = r.json();
    expect(page1.items.map((e: { target: string }) => e.target)).toEqual([
      `/directories/${guid(0x704)}`,
      `/directories/${guid(0x703)}`,
    ]);
    expect(page1.items[0]).toEqual({
      seq: expect.any(Number),
      at: new Date(start + 4 * 60_000).toISOString(),
      principalId: t.svc.system.operatorPrincipalId,
      action: "directories/write",
      target: `/directories/${guid(0x704)}`,
      requestId: expect.any(String),
      details: { op: "create", displayName: "Audited 4" },
    });
    const page2 = (
      await as("operator", `/api/v1/audit-log?target=/directories/&limit=2&cursor=${page1.nextCursor}`)
    ).json();
    expect(page2.items.map((e: { target: string }) => e.target)).toEqual([
      `/directories/${guid(0x702)}`,
      `/directories/${guid(0x701)}`,
    ]);
    const window = (
      await as(
        "operator",
        `/api/v1/audit-log?from=${new Date(start + 60_000).toISOString()}&to=${new Date(start + 3 * 60_000).toISOString()}&action=directories/write`,
      )
    ).json();
    expect(window.items).toHaveLength(2);
    const byPrincipal = (await as("operator", `/api/v1/audit-log?principalId=nobody`)).json();
    expect(byPrincipal.items).toEqual([]);
    const grants = (await as("operator", "/api/v1/audit-log?action=roleAssignments/write&limit=1000")).json();
    expect(grants.items.map((e: { details: { principalId: string } }) => e.details.principalId)).toContain(
      "auditor",
    );
    expect((await as("operator", "/api/v1/audit-log?from=yesterday")).statusCode).toBe(400);
    expect((await as("operator", "/api/v1/audit-log?cursor=abc")).statusCode).toBe(400);
  });

  it("is readable by Readers at / and nobody below", async () => {
    expect((await as("auditor", "/api/v1/audit-log")).statusCode).toBe(200);
    expect((await as("p-admin", "/api/v1/audit-log")).statusCode).toBe(403);
  });

  it("cannot be changed through the API or in the database", async () => {
    const routes = routesOf(t.app).filter((r) => r.url.startsWith("/api/v1/audit-log"));
    expect(routes.map((r) => r.method)).toEqual(["GET"]);
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const r = await as("operator", "/api/v1/audit-log", method, method === "DELETE" ? undefined : {});
      expect(r.statusCode, method).toBe(404);
    }
    const before = (await as("operator", "/api/v1/audit-log?limit=1000")).json().items.length;
    await expect(sql`update audit_log set action = 'tampered'`.execute(t.svc.store.db)).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`delete from audit_log`.execute(t.svc.store.db)).rejects.toThrow(/append-only/);
    expect((await as("operator", "/api/v1/audit-log?limit=1000")).json().items).toHaveLength(before);
  });
});
