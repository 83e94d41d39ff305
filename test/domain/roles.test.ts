import { describe, expect, it } from "vitest";
import { type Grant, holdsRole, permits } from "../../src/auth/authorize.js";
import { ACTIONS } from "../../src/auth/principal.js";
import { findRole, isPrivileged, matchesPattern, ROLES, rolePermits } from "../../src/auth/roles.js";
import type { ScopeChain } from "../../src/domain/scope.js";

const grant = (role: string, scope: string): Grant => ({ role, scope });
const chainOf = (...scopes: string[]): ScopeChain => scopes.map((scope) => ({ scope }));
const S1 = "/subscriptions/00000000-0000-4000-8000-000000000001";
const subChain = chainOf("/", "/providers/p1", S1);

describe("role definitions", () => {
  it("match actions by pattern, including actions added later", () => {
    expect(matchesPattern("*", "prices/write")).toBe(true);
    expect(matchesPattern("usage/*", "usage/import")).toBe(true);
    expect(matchesPattern("usage/*", "usages/read")).toBe(false);
    expect(matchesPattern("*/read", "invoices/read")).toBe(true);
    expect(matchesPattern("*/read", "invoices/readall")).toBe(false);
    expect(matchesPattern("sources/*", "sources/keys/write")).toBe(true);
    expect(matchesPattern("a.b", "axb")).toBe(false);
    // A future action is covered by the roles whose patterns match it.
    expect(rolePermits(findRole("Reader")!, "prices/read")).toBe(true);
    expect(rolePermits(findRole("Reader")!, "prices/write")).toBe(false);
    expect(rolePermits(findRole("Contributor")!, "prices/write")).toBe(true);
  });

  it("give Owner everything, Contributor everything but access management, Reader only reads", () => {
    const owner = findRole("owner")!;
    const contributor = findRole("Contributor")!;
    const reader = findRole("READER")!;
    for (const a of ACTIONS) {
      expect(rolePermits(owner, a)).toBe(true);
      expect(rolePermits(contributor, a), a).toBe(
        !["roleAssignments/write", "roleAssignments/delete"].includes(a),
      );
      expect(rolePermits(reader, a), a).toBe(a.endsWith("/read"));
    }
    expect(ROLES.filter(isPrivileged).map((r) => r.name)).toEqual([
      "Owner",
      "Billing account owner",
      "Enterprise administrator",
    ]);
  });

  it("every pattern of every role matches at least one action, and every role is assignable somewhere", () => {
    for (const r of ROLES) {
      expect(r.assignableScopes.length, r.name).toBeGreaterThan(0);
      for (const p of [...r.actions, ...r.policyActions.flatMap((x) => x.actions)]) {
        expect(
          ACTIONS.some((a) => matchesPattern(p, a)),
          `${r.name}: ${p}`,
        ).toBe(true);
      }
    }
  });

  it("gate charges for department admins and account owners on the enrollment's policy", () => {
    const da = findRole("Department administrator")!;
    expect(rolePermits(da, "charges/read")).toBe(false);
    expect(
      rolePermits(da, "charges/read", {
        departmentAdminsCanViewCharges: true,
        accountOwnersCanViewCharges: false,
      }),
    ).toBe(true);
    expect(
      rolePermits(da, "charges/read", {
        departmentAdminsCanViewCharges: false,
        accountOwnersCanViewCharges: true,
      }),
    ).toBe(false);
    const ao = findRole("Account owner")!;
    expect(
      rolePermits(ao, "charges/read", {
        departmentAdminsCanViewCharges: true,
        accountOwnersCanViewCharges: false,
      }),
    ).toBe(false);
    expect(rolePermits(ao, "usage/read")).toBe(true);
  });
});

describe("the authorization decision", () => {
  it("grants along the chain: a scope covers everything below it", () => {
    expect(permits([grant("Reader", "/")], "subscriptions/read", subChain)).toBe(true);
    expect(permits([grant("Owner", "/providers/p1")], "subscriptions/delete", subChain)).toBe(true);
    expect(permits([grant("Owner", "/providers/p2")], "subscriptions/read", subChain)).toBe(false);
    expect(permits([grant("Owner", S1)], "subscriptions/read", chainOf("/", "/providers/p1"))).toBe(false);
    expect(permits([grant("Reader", S1)], "subscriptions/write", subChain)).toBe(false);
    expect(permits([grant("Nonexistent role", "/")], "subscriptions/read", subChain)).toBe(false);
    expect(permits([], "subscriptions/read", subChain)).toBe(false);
  });

  it("lets a read-only link admit reads only", () => {
    const ps: ScopeChain = [
      { scope: "/" },
      { scope: "/providers/p1", readOnly: true },
      { scope: "/subscriptions/x" },
    ];
    expect(permits([grant("Owner", "/providers/p1")], "subscriptions/read", ps)).toBe(true);
    expect(permits([grant("Owner", "/providers/p1")], "usage/read", ps)).toBe(true);
    expect(permits([grant("Owner", "/providers/p1")], "subscriptions/write", ps)).toBe(false);
    expect(holdsRole([grant("Owner", "/providers/p1")], findRole("Owner")!, ps)).toBe(false);
  });

  it("applies enrollment policies per enrollment", () => {
    const dept = chainOf("/", "/enrollments/e1", "/enrollments/e1/departments/d1");
    const grants = [grant("Department administrator", "/enrollments/e1/departments/d1")];
    const on = () => ({ departmentAdminsCanViewCharges: true, accountOwnersCanViewCharges: false });
    expect(permits(grants, "charges/read", dept)).toBe(false);
    expect(permits(grants, "charges/read", dept, on)).toBe(true);
    expect(permits(grants, "billing/read", dept)).toBe(true);
    expect(permits([grant("Enterprise administrator", "/enrollments/e1")], "charges/read", dept)).toBe(true);
  });
});
