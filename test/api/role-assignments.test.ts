import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  canViewCharges,
  requireOnProviderSubscription,
  requireOnSubscription,
  visibleSubscriptions,
} from "../../src/auth/scoping.js";
import { bootstrap } from "../../src/bootstrap.js";
import { billingChain } from "../../src/domain/scope.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";

const D1 = guid(0xa1);
const S1 = guid(0xa11);
const S2 = guid(0xa12);
const P1 = "ra-reseller";

describe.each(DIALECTS)("role assignments on %s", (dialect) => {
  let t: TestApp;
  const tokens = new Map<string, string>();

  const auth = async (who: string, tid?: string) => {
    if (who === "operator") return t.op;
    const key = `${who}|${tid ?? ""}`;
    if (!tokens.has(key))
      tokens.set(
        key,
        await t.svc.tokens.sign({ subject: who, ttlMs: 3_600_000, ...(tid ? { directoryId: tid } : {}) }),
      );
    return { authorization: `Bearer ${tokens.get(key)}` };
  };
  const call = async (who: string, method: string, url: string, body?: unknown, requestId?: string) =>
    t.app.inject({
      method: method as "GET",
      url,
      headers: { ...(await auth(who)), ...(requestId ? { "x-request-id": requestId } : {}) },
      ...(body === undefined ? {} : { payload: body as object }),
    });
  const assign = (who: string, principalId: string, role: string, scope: string, requestId?: string) =>
    call(who, "POST", "/api/v1/role-assignments", { principalId, role, scope }, requestId);
  const principal = (id: string, directoryId: string | null = null) => ({
    id,
    kind: "user" as const,
    displayName: id,
    directoryId,
  });

  beforeAll(async () => {
    t = await openTestApp(dialect);
    await call("operator", "POST", "/api/v1/directories", { id: D1, displayName: "RA tenant" });
    await call("operator", "POST", "/api/v1/providers", { id: P1, displayName: "RA reseller" });
    await call("operator", "POST", "/api/v1/subscriptions", {
      id: S1,
      displayName: "S1",
      directoryId: D1,
      providerId: P1,
    });
    await call("operator", "POST", "/api/v1/subscriptions", { id: S2, displayName: "S2", directoryId: D1 });
  });
  afterAll(async () => t.cleanup());

  it("gives the operator Owner on / at first start, once", async () => {
    const list = (await call("operator", "GET", `/api/v1/role-assignments?scope=/`)).json();
    expect(list.items).toEqual([
      expect.objectContaining({ principalId: t.svc.system.operatorPrincipalId, role: "Owner", scope: "/" }),
    ]);
    await bootstrap(t.svc.store, t.clock.now());
    expect((await call("operator", "GET", `/api/v1/role-assignments?scope=/`)).json().items).toHaveLength(1);
    const audit = await t.svc.store.db
      .selectFrom("audit_log")
      .selectAll()
      .where("request_id", "=", "bootstrap")
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: "roleAssignments/write",
      principal_id: t.svc.system.operatorPrincipalId,
    });
  });

  it("creates an assignment with a canonical scope and role name, answers 201, and audits it", async () => {
    const r = await assign(
      "operator",
      "alice",
      "reader",
      `/SUBSCRIPTIONS/${S1.toUpperCase()}/`,
      "ra-create-1",
    );
    expect(r.statusCode).toBe(201);
    const a = r.json();
    expect(a).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      principalId: "alice",
      role: "Reader",
      scope: `/subscriptions/${S1}`,
      createdAt: new Date(t.clock.now()).toISOString(),
      createdBy: t.svc.system.operatorPrincipalId,
    });
    const audit = await t.svc.store.db
      .selectFrom("audit_log")
      .selectAll()
      .where("request_id", "=", "ra-create-1")
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: "roleAssignments/write", target: `/roleAssignments/${a.id}` });
    expect(JSON.parse(audit[0]!.details!)).toMatchObject({
      principalId: "alice",
      role: "Reader",
      scope: `/subscriptions/${S1}`,
    });
    expect((await assign("operator", "alice", "Reader", `/subscriptions/${S1}`)).statusCode).toBe(409);
    // Takes effect at once: the cache of alice's assignments is invalidated in-process.
    expect((await call("alice", "GET", `/api/v1/subscriptions/${S1}`)).statusCode).toBe(200);
  });

  it("refuses malformed scopes, unknown roles and roles not assignable at the scope with 400", async () => {
    const bad = async (role: string, scope: string, field: string) => {
      const r = await assign("operator", "bob", role, scope);
      expect(r.statusCode, `${role} @ ${scope}`).toBe(400);
      expect(r.json().error.details[0].field).toBe(field);
      return r.json().error.message as string;
    };
    for (const scope of [
      "",
      "subscriptions/x",
      "//",
      "/subscriptions",
      "/subscriptions/not-a-guid",
      "/providers/bad id",
      "/providers/a/b",
      "/tenants/x",
      "/enrollments/e1/accounts/a1",
      "/enrollments/e1/departments//accounts/a1",
      `/subscriptions/${S1}/resourceGroups/rg`,
      "/billingAccounts/bad%20id",
    ]) {
      const r = await assign("operator", "bob", "Reader", scope);
      expect(r.statusCode, scope).toBe(400);
    }
    expect(await bad("Superuser", "/", "role")).toMatch(/unknown role 'Superuser'/);
    expect(await bad("Billing account reader", `/subscriptions/${S1}`, "role")).toMatch(
      /cannot be assigned at a subscription scope/,
    );
    expect(await bad("Owner", "/billingAccounts/b1", "role")).toMatch(/billingAccount/);
    expect(await bad("Account owner", "/enrollments/e1/departments/d1", "role")).toMatch(/department/);
    expect(await bad("Reader", "/providers/operator", "scope")).toMatch(/assigned at '\/'/);
    expect(await bad("Reader", "/providers/nobody", "scope")).toMatch(/provider 'nobody' does not exist/);
    expect(await bad("Reader", `/subscriptions/${guid(0xdead)}`, "scope")).toMatch(/does not exist/);
    const missing = await call("operator", "POST", "/api/v1/role-assignments", {
      principalId: "bob",
      role: "Reader",
    });
    expect(missing.statusCode).toBe(400);
    // Billing account and enrollment scopes are checked for syntax only (they are not entities yet).
    expect((await assign("operator", "ea1", "Enterprise administrator", "/enrollments/e1")).statusCode).toBe(
      201,
    );
  });

  it("lets only holders of roleAssignments/write grant, and answers 403 otherwise", async () => {
    await assign("operator", "s1-owner", "Owner", `/subscriptions/${S1}`);
    await assign("operator", "s1-contrib", "Contributor", `/subscriptions/${S1}`);
    await assign("operator", "root-contrib", "Contributor", "/");
    await assign("operator", "p1-owner", "Owner", `/providers/${P1}`);

    expect((await assign("alice", "x1", "Reader", `/subscriptions/${S1}`)).statusCode).toBe(403); // Reader
    expect((await assign("s1-contrib", "x1", "Reader", `/subscriptions/${S1}`)).statusCode).toBe(403);
    expect((await assign("root-contrib", "x1", "Reader", "/")).statusCode).toBe(403);
    expect((await assign("root-contrib", "x1", "Owner", `/providers/${P1}`)).statusCode).toBe(403);
    // An Owner of S1 may grant on S1 (Owner included), not elsewhere.
    expect((await assign("s1-owner", "x1", "Owner", `/subscriptions/${S1}`)).statusCode).toBe(201);
    expect((await assign("s1-owner", "x1", "Reader", "/")).statusCode).toBe(403);
    // S2 exists, but to the Owner of S1 it is as if it did not (no existence leak).
    const hidden = await assign("s1-owner", "x1", "Reader", `/subscriptions/${S2}`);
    expect(hidden.statusCode).toBe(400);
    expect(hidden.json().error.message).toBe(
      (await assign("s1-owner", "x1", "Reader", `/subscriptions/${guid(0xbeef)}`))
        .json()
        .error.message.replace(guid(0xbeef), S2),
    );
    // A provider's Owner may grant below it.
    expect((await assign("p1-owner", "x2", "Contributor", `/subscriptions/${S1}`)).statusCode).toBe(201);
    expect((await assign("p1-owner", "x2", "Owner", `/providers/${P1}`)).statusCode).toBe(201);
    expect((await assign("p1-owner", "x2", "Reader", `/subscriptions/${S2}`)).statusCode).toBe(400);
    // Enterprise administrators grant inside their enrollment only.
    expect(
      (await assign("ea1", "da1", "Department administrator", "/enrollments/e1/departments/d1")).statusCode,
    ).toBe(201);
    expect(
      (await assign("ea1", "ao1", "Account owner", "/enrollments/e1/departments/d1/accounts/a1")).statusCode,
    ).toBe(201);
    expect((await assign("ea1", "x3", "Enterprise administrator", "/enrollments/e2")).statusCode).toBe(403);
    expect(
      (await assign("da1", "x3", "Account owner", "/enrollments/e1/departments/d1/accounts/a2")).statusCode,
    ).toBe(403);
  });

  it("lists what the caller may see, filters by principal and scope, and pages", async () => {
    const items = async (who: string, q = "") =>
      (await call(who, "GET", `/api/v1/role-assignments?limit=1000${q}`)).json().items as {
        principalId: string;
        scope: string;
      }[];
    const all = await items("operator");
    expect(all.length).toBeGreaterThan(10);
    expect((await items("operator", "&principalId=alice")).map((a) => a.principalId)).toEqual(["alice"]);
    expect(
      (await items("operator", `&scope=/Subscriptions/${S1.toUpperCase()}`)).every(
        (a) => a.scope === `/subscriptions/${S1}`,
      ),
    ).toBe(true);
    expect((await call("operator", "GET", "/api/v1/role-assignments?scope=nope")).statusCode).toBe(400);
    // An Owner of S1 sees S1's assignments and its own, nothing at / or P1.
    const s1 = await items("s1-owner");
    expect(s1.every((a) => a.scope === `/subscriptions/${S1}`)).toBe(true);
    expect(s1.map((a) => a.principalId)).toEqual(expect.arrayContaining(["alice", "s1-owner", "s1-contrib"]));
    // P1's Owner sees P1's and its subscriptions' assignments.
    const p1 = await items("p1-owner");
    expect(new Set(p1.map((a) => a.scope))).toEqual(new Set([`/providers/${P1}`, `/subscriptions/${S1}`]));
    // An enterprise administrator sees the whole enrollment; a department admin its department.
    expect(new Set((await items("ea1")).map((a) => a.principalId))).toEqual(new Set(["ea1", "da1", "ao1"]));
    expect(new Set((await items("da1")).map((a) => a.principalId))).toEqual(new Set(["da1", "ao1"]));
    // A principal with no role at all still sees that it has none.
    expect(await items("nobody")).toEqual([]);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { id: string }[]; nextCursor: string | null } = (
        await call("operator", "GET", `/api/v1/role-assignments?limit=3${cursor ? `&cursor=${cursor}` : ""}`)
      ).json();
      seen.push(...page.items.map((a) => a.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(all.length);
    expect(new Set(seen).size).toBe(all.length);
  });

  it("revokes with 204, audits it, 403 without the right, 404 when invisible, 409 for the last Owner of /", async () => {
    const granted = (await assign("operator", "temp", "Reader", `/subscriptions/${S2}`)).json();
    expect((await call("s1-owner", "DELETE", `/api/v1/role-assignments/${granted.id}`)).statusCode).toBe(404);
    expect((await call("alice", "DELETE", `/api/v1/role-assignments/${granted.id}`)).statusCode).toBe(404);
    const own = (await call("alice", "GET", "/api/v1/role-assignments")).json().items[0];
    expect((await call("alice", "DELETE", `/api/v1/role-assignments/${own.id}`)).statusCode).toBe(403);
    const r = await call(
      "operator",
      "DELETE",
      `/api/v1/role-assignments/${granted.id}`,
      undefined,
      "ra-delete-1",
    );
    expect(r.statusCode).toBe(204);
    expect((await call("operator", "DELETE", `/api/v1/role-assignments/${granted.id}`)).statusCode).toBe(404);
    const audit = await t.svc.store.db
      .selectFrom("audit_log")
      .selectAll()
      .where("request_id", "=", "ra-delete-1")
      .execute();
    expect(audit).toMatchObject([
      { action: "roleAssignments/delete", target: `/roleAssignments/${granted.id}` },
    ]);

    const rootOwner = (
      await call(
        "operator",
        "GET",
        "/api/v1/role-assignments?scope=/&principalId=" + t.svc.system.operatorPrincipalId,
      )
    ).json().items[0];
    const last = await call("operator", "DELETE", `/api/v1/role-assignments/${rootOwner.id}`);
    expect(last.statusCode).toBe(409);
    expect(last.json().error.code).toBe("Conflict");
    // With a second Owner, the operator may step down; then the second is the last one.
    const second = (await assign("operator", "owner-2", "Owner", "/")).json();
    expect((await call("operator", "DELETE", `/api/v1/role-assignments/${rootOwner.id}`)).statusCode).toBe(
      204,
    );
    expect((await call("operator", "GET", "/api/v1/sources")).statusCode).toBe(403);
    expect((await call("owner-2", "DELETE", `/api/v1/role-assignments/${second.id}`)).statusCode).toBe(409);
    expect((await assign("owner-2", t.svc.system.operatorPrincipalId, "Owner", "/")).statusCode).toBe(201);
    expect((await call("operator", "GET", "/api/v1/sources")).statusCode).toBe(200);
  });

  it("publishes the role definitions as data", async () => {
    const r = await call("nobody", "GET", "/api/v1/role-definitions");
    expect(r.statusCode).toBe(200);
    const defs = r.json().items as {
      name: string;
      permittedActions: string[];
      permittedActionsByPolicy: Record<string, string[]>;
    }[];
    expect(defs.map((d) => d.name)).toEqual([
      "Owner",
      "Contributor",
      "Reader",
      "Billing account owner",
      "Billing account contributor",
      "Billing account reader",
      "Invoice manager",
      "Enterprise administrator",
      "Enterprise administrator (read only)",
      "Department administrator",
      "Department administrator (read only)",
      "Account owner",
    ]);
    const by = new Map(defs.map((d) => [d.name, d]));
    expect(by.get("Contributor")!.permittedActions).not.toContain("roleAssignments/write");
    expect(by.get("Contributor")!.permittedActions).toContain("subscriptions/write");
    expect(by.get("Reader")!.permittedActions.every((a) => a.endsWith("/read"))).toBe(true);
    expect(by.get("Department administrator")!.permittedActions).not.toContain("charges/read");
    expect(by.get("Department administrator")!.permittedActionsByPolicy).toEqual({
      departmentAdminsCanViewCharges: ["charges/read"],
    });
  });

  it("manages enrollment policies and answers whether a principal may see charges", async () => {
    await assign("operator", "ea-ro", "Enterprise administrator (read only)", "/enrollments/e1");
    const dept = billingChain({ kind: "department", enrollmentId: "e1", departmentId: "d1" });
    const acct = billingChain({ kind: "account", enrollmentId: "e1", departmentId: "d1", accountId: "a1" });
    expect(await canViewCharges(t.svc, principal("da1"), dept)).toBe(false);
    expect(await canViewCharges(t.svc, principal("ao1"), acct)).toBe(false);
    expect(await canViewCharges(t.svc, principal("ea1"), acct)).toBe(true);

    const get = await call("ea-ro", "GET", "/api/v1/enrollment-policies/e1");
    expect(get.json()).toEqual({
      enrollmentId: "e1",
      departmentAdminsCanViewCharges: false,
      accountOwnersCanViewCharges: false,
      updatedAt: null,
      updatedBy: null,
    });
    const patch = { departmentAdminsCanViewCharges: true };
    expect((await call("ea-ro", "PATCH", "/api/v1/enrollment-policies/e1", patch)).statusCode).toBe(403);
    expect((await call("da1", "PATCH", "/api/v1/enrollment-policies/e1", patch)).statusCode).toBe(404);
    expect((await call("ea1", "GET", "/api/v1/enrollment-policies/e2")).statusCode).toBe(404);
    const set = await call("ea1", "PATCH", "/api/v1/enrollment-policies/e1", patch, "policy-1");
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({
      departmentAdminsCanViewCharges: true,
      accountOwnersCanViewCharges: false,
      updatedBy: "ea1",
    });
    expect(await canViewCharges(t.svc, principal("da1"), dept)).toBe(true);
    expect(await canViewCharges(t.svc, principal("da1"), acct)).toBe(true);
    expect(await canViewCharges(t.svc, principal("ao1"), acct)).toBe(false);
    await call("ea1", "PATCH", "/api/v1/enrollment-policies/e1", { accountOwnersCanViewCharges: true });
    expect(await canViewCharges(t.svc, principal("ao1"), acct)).toBe(true);
    // A policy of one enrollment says nothing about another.
    await assign("operator", "da2", "Department administrator", "/enrollments/e2/departments/d1");
    expect(
      await canViewCharges(
        t.svc,
        principal("da2"),
        billingChain({ kind: "department", enrollmentId: "e2", departmentId: "d1" }),
      ),
    ).toBe(false);
    const audit = await t.svc.store.db
      .selectFrom("audit_log")
      .selectAll()
      .where("request_id", "=", "policy-1")
      .execute();
    expect(audit).toMatchObject([{ action: "enrollmentPolicies/write", target: "/enrollments/e1/policies" }]);
    expect((await call("ea1", "PATCH", "/api/v1/enrollment-policies/e1", {})).statusCode).toBe(400);
    expect((await call("ea1", "GET", "/api/v1/enrollment-policies/bad%20id")).statusCode).toBe(400);
  });

  it("gives routes the helpers that scope them to a tenant's subscriptions", async () => {
    const tenant = principal("alice", D1);
    expect(await visibleSubscriptions(t.svc, tenant, "usage/read")).toEqual({
      subscriptionIds: [S1],
      providerIds: [],
    });
    expect(await visibleSubscriptions(t.svc, principal(t.svc.system.operatorPrincipalId), "usage/read")).toBe(
      "all",
    );
    expect((await requireOnSubscription(t.svc, tenant, "usage/read", S1.toUpperCase())).id).toBe(S1);
    await expect(requireOnSubscription(t.svc, tenant, "usage/read", S2)).rejects.toMatchObject({
      code: "NotFound",
    });
    await expect(requireOnSubscription(t.svc, tenant, "subscriptions/write", S1)).rejects.toMatchObject({
      code: "Forbidden",
    });
    await expect(requireOnSubscription(t.svc, tenant, "usage/read", "nonsense")).rejects.toMatchObject({
      code: "NotFound",
    });
    const p1 = await visibleSubscriptions(t.svc, principal("p1-owner"), "usage/read");
    expect(p1).toMatchObject({ providerIds: [P1] });

    // The Azure operator usage API: called on a provider subscription, answered for its provider.
    const ps1 = (await call("operator", "GET", `/api/v1/providers/${P1}`)).json().subscriptionId;
    const found = await requireOnProviderSubscription(
      t.svc,
      principal("p1-owner"),
      "usage/read",
      ps1.toUpperCase(),
    );
    expect(found.provider.id).toBe(P1);
    expect(found.subscription.id).toBe(ps1);
    const root = t.svc.system.defaultProviderSubscriptionId;
    await expect(
      requireOnProviderSubscription(t.svc, principal("p1-owner"), "usage/read", root),
    ).rejects.toMatchObject({
      code: "NotFound",
    });
    await expect(
      requireOnProviderSubscription(t.svc, principal("p1-owner"), "usage/read", S1),
    ).rejects.toMatchObject({
      code: "NotFound",
    });
    await expect(requireOnProviderSubscription(t.svc, tenant, "usage/read", ps1)).rejects.toMatchObject({
      code: "NotFound",
    });
    await assign("operator", "p1-reader", "Reader", `/providers/${P1}`);
    await expect(
      requireOnProviderSubscription(t.svc, principal("p1-reader"), "usage/import", ps1),
    ).rejects.toMatchObject({ code: "Forbidden" });
    // Azure's rule: a role on the provider subscription itself opens its provider's tenants too.
    await assign("operator", "ps1-reader", "Reader", `/subscriptions/${ps1}`);
    expect(
      (await requireOnProviderSubscription(t.svc, principal("ps1-reader"), "usage/read", ps1)).provider.id,
    ).toBe(P1);
    await expect(
      requireOnProviderSubscription(t.svc, principal("ps1-reader"), "usage/import", ps1),
    ).rejects.toMatchObject({ code: "Forbidden" });
    await expect(
      requireOnProviderSubscription(t.svc, principal("ps1-reader"), "usage/read", root),
    ).rejects.toMatchObject({ code: "NotFound" });
    expect(
      (
        await requireOnProviderSubscription(
          t.svc,
          principal(t.svc.system.operatorPrincipalId),
          "usage/read",
          root,
        )
      ).provider.id,
    ).toBe("operator");
  });
});
