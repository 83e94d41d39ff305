import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertAssignment, listAssignmentRows, recordPrincipal } from "../../src/auth/repository.js";
import { createDirectory } from "../../src/directories/service.js";
import { findProviderSubscription, listDirectTenantRows } from "../../src/providers/repository.js";
import { createProvider, deleteProvider } from "../../src/providers/service.js";
import { ConstraintError } from "../../src/storage/errors.js";
import { createSubscription, deleteSubscription } from "../../src/subscriptions/service.js";
import { DIALECTS, guid, openTestEnv, type TestEnv } from "../helpers.js";

describe.each(DIALECTS)("identity storage on %s", (dialect) => {
  let env: TestEnv;
  const actor = { principalId: "storage-test", requestId: "storage-test" };
  beforeAll(async () => {
    env = await openTestEnv(dialect);
  });
  afterAll(async () => env.cleanup());
  const db = () => env.svc.store.db;
  const now = Date.UTC(2026, 10, 23, 12);

  it("keeps one assignment per principal, role and scope", async () => {
    const row = { id: "a1", principal_id: "p", role: "Reader", scope: "/", created_at: now, created_by: "x" };
    await insertAssignment(db(), row);
    const err = await insertAssignment(db(), { ...row, id: "a2" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConstraintError);
    expect((err as ConstraintError).kind).toBe("unique");
    await insertAssignment(db(), { ...row, id: "a3", role: "Contributor" });
  });

  it("matches enrollment prefixes literally (an id's '_' is no wildcard)", async () => {
    const base = { principal_id: "q", role: "Account owner", created_at: now, created_by: "x" };
    await insertAssignment(db(), { ...base, id: "e1", scope: "/enrollments/e_1/departments/d/accounts/a" });
    await insertAssignment(db(), { ...base, id: "e2", scope: "/enrollments/ex1/departments/d/accounts/a" });
    const rows = await listAssignmentRows(db(), {
      limit: 100,
      visible: {
        principalId: "nobody",
        scopes: [],
        prefixes: ["/enrollments/e_1/"],
        subscriptions: { subscriptionIds: [], providerIds: [] },
      },
    });
    expect(rows.map((r) => r.id)).toEqual(["e1"]);
  });

  it("records a principal once, whatever it says later", async () => {
    await recordPrincipal(db(), { id: "u1", kind: "user", displayName: "U", directoryId: guid(9) }, now);
    await recordPrincipal(
      db(),
      { id: "u1", kind: "service", displayName: "Other", directoryId: null },
      now + 1,
    );
    const row = await db()
      .selectFrom("principals")
      .selectAll()
      .where("id", "=", "u1")
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ kind: "user", display_name: "U", directory_id: guid(9) });
  });

  it("finds a provider subscription's provider and its direct tenants, deleted ones included", async () => {
    const sys = env.svc.system;
    await createDirectory(env.svc, actor, { id: guid(0x77), displayName: "T" });
    const p1 = await createProvider(
      env.svc,
      actor,
      { id: "st-p1", displayName: "P1" },
      { rootProviderId: sys.rootProviderId, operatorDirectoryId: sys.operatorDirectoryId },
    );
    const p2 = await createProvider(
      env.svc,
      actor,
      { id: "st-p2", displayName: "P2", parentId: "st-p1" },
      { rootProviderId: sys.rootProviderId, operatorDirectoryId: sys.operatorDirectoryId },
    );
    const a = await createSubscription(
      env.svc,
      actor,
      { displayName: "A", directoryId: guid(0x77), providerId: "st-p1" },
      { rootProviderId: "operator" },
    );
    const b = await createSubscription(
      env.svc,
      actor,
      { displayName: "B", directoryId: guid(0x77), providerId: "st-p1" },
      { rootProviderId: "operator" },
    );
    await deleteSubscription(env.svc, actor, b.id);

    const found = await findProviderSubscription(db(), p1.subscriptionId);
    expect(found?.provider.id).toBe("st-p1");
    expect(found?.subscription.provider_id).toBe("operator");
    expect(await findProviderSubscription(db(), a.id)).toBeUndefined();

    const tenants = async (providerSubscriptionId: string) => {
      const f = (await findProviderSubscription(db(), providerSubscriptionId))!;
      return (await listDirectTenantRows(db(), f.provider, { limit: 100 })).map((s) => s.id).sort();
    };
    expect(await tenants(p1.subscriptionId)).toEqual([a.id, b.id, p2.subscriptionId].sort());
    const root = await tenants(sys.defaultProviderSubscriptionId);
    expect(root).toContain(p1.subscriptionId);
    expect(root).not.toContain(sys.defaultProviderSubscriptionId);
    expect(root).not.toContain(a.id);
    // A deleted provider's provider subscription stays a (deleted) tenant of its parent.
    await deleteProvider(env.svc, actor, "st-p2");
    expect(await tenants(p1.subscriptionId)).toContain(p2.subscriptionId);
  });
});
