import { describe, expect, it } from "vitest";
import { billingChain, enrollmentOf, formatScope, parseScope } from "../../src/domain/scope.js";

const G = "6F1C3A52-8D1E-4C1B-9B7A-2F0E5D4C3B21";
const g = G.toLowerCase();

describe("scope paths", () => {
  it("parses and canonicalises every kind", () => {
    const cases: [string, string][] = [
      ["/", "/"],
      ["/providers/reseller-1", "/providers/reseller-1"],
      ["/Providers/reseller-1/", "/providers/reseller-1"],
      [`/subscriptions/${G}`, `/subscriptions/${g}`],
      [`/SUBSCRIPTIONS/${G.replaceAll("-", "")}`, `/subscriptions/${g}`],
      ["/billingaccounts/1234:5678_2019-05-31", "/billingAccounts/1234:5678_2019-05-31"],
      ["/enrollments/100", "/enrollments/100"],
      ["/enrollments/100/Departments/d1", "/enrollments/100/departments/d1"],
      ["/enrollments/100/departments/d1/accounts/a.1", "/enrollments/100/departments/d1/accounts/a.1"],
    ];
    for (const [text, canonical] of cases) {
      const s = parseScope(text);
      expect(typeof s, text).toBe("object");
      expect(formatScope(s as Exclude<typeof s, string>)).toBe(canonical);
    }
    expect(parseScope("/enrollments/e/departments/d/accounts/a")).toEqual({
      kind: "account",
      enrollmentId: "e",
      departmentId: "d",
      accountId: "a",
    });
  });

  it("says why a scope is malformed", () => {
    for (const text of [
      "",
      "providers/x",
      "//",
      "/providers",
      "/providers/",
      "/providers/a b",
      "/providers/x/subscriptions/y",
      "/subscriptions/123",
      "/constructor/x",
      "/__proto__/x",
      "/enrollments/e/accounts/a",
      "/enrollments/e/departments",
      "/billingAccounts/a/b",
      "/billingAccounts/%41",
      `/subscriptions/${G}/resourceGroups/rg`,
    ]) {
      expect(typeof parseScope(text), text).toBe("string");
    }
    expect(parseScope("/subscriptions/123")).toMatch(/must be a GUID/);
  });

  it("derives billing chains from the path and finds the enrollment", () => {
    expect(billingChain({ kind: "account", enrollmentId: "e", departmentId: "d", accountId: "a" })).toEqual([
      { scope: "/" },
      { scope: "/enrollments/e" },
      { scope: "/enrollments/e/departments/d" },
      { scope: "/enrollments/e/departments/d/accounts/a" },
    ]);
    expect(billingChain({ kind: "billingAccount", billingAccountId: "b1" })).toEqual([
      { scope: "/" },
      { scope: "/billingAccounts/b1" },
    ]);
    expect(enrollmentOf("/enrollments/e/departments/d")).toBe("e");
    expect(enrollmentOf("/billingAccounts/b1")).toBeUndefined();
  });
});
