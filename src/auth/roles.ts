import type { ScopeKind } from "../domain/scope.js";
import { ACTIONS } from "./principal.js";

/**
 * The built-in roles, as data (DESIGN §4). A role permits the actions matching one of its
 * `actions` patterns and none of its `notActions` patterns; `*` matches any run of characters, so
 * `*` is everything, `usage/*` every usage action and `*\/read` every read action, including
 * actions that later capabilities add to `ACTIONS`. Some enterprise roles hold an action only
 * while their enrollment's policy allows it (`policyActions`).
 */
export type EnrollmentPolicyName = "departmentAdminsCanViewCharges" | "accountOwnersCanViewCharges";

export interface EnrollmentPolicy {
  departmentAdminsCanViewCharges: boolean;
  accountOwnersCanViewCharges: boolean;
}

/** Until an enterprise administrator says otherwise, money stays with the enterprise administrators. */
export const DEFAULT_ENROLLMENT_POLICY: EnrollmentPolicy = {
  departmentAdminsCanViewCharges: false,
  accountOwnersCanViewCharges: false,
};

export interface RoleDefinition {
  name: string;
  description: string;
  assignableScopes: readonly ScopeKind[];
  actions: readonly string[];
  notActions: readonly string[];
  policyActions: readonly { policy: EnrollmentPolicyName; actions: readonly string[] }[];
}

const RESOURCE_SCOPES: readonly ScopeKind[] = ["root", "provider", "subscription"];
const BILLING_READ = ["billing/read", "usage/read", "roleAssignments/read", "roleDefinitions/read"];

const role = (
  name: string,
  description: string,
  assignableScopes: readonly ScopeKind[],
  actions: readonly string[],
  more: Partial<Pick<RoleDefinition, "notActions" | "policyActions">> = {},
): RoleDefinition => ({
  name,
  description,
  assignableScopes,
  actions,
  notActions: more.notActions ?? [],
  policyActions: more.policyActions ?? [],
});

export const ROLES: readonly RoleDefinition[] = [
  role("Owner", "Full access, including granting roles to others.", RESOURCE_SCOPES, ["*"]),
  role("Contributor", "Full access except granting or revoking roles.", RESOURCE_SCOPES, ["*"], {
    notActions: ["roleAssignments/write", "roleAssignments/delete"],
  }),
  role("Reader", "Reads everything at the scope; changes nothing.", RESOURCE_SCOPES, ["*/read"]),
  role(
    "Billing account owner",
    "Manages the billing account, its invoices and who has access to it.",
    ["billingAccount"],
    ["billing/*", "charges/*", "invoices/*", "usage/read", "roleAssignments/*", "roleDefinitions/read"],
  ),
  role(
    "Billing account contributor",
    "Manages the billing account and its invoices, but not access to it.",
    ["billingAccount"],
    ["billing/*", "charges/*", "invoices/*", ...BILLING_READ],
  ),
  role(
    "Billing account reader",
    "Reads the billing account, its charges and invoices.",
    ["billingAccount"],
    ["charges/read", "invoices/read", ...BILLING_READ],
  ),
  role(
    "Invoice manager",
    "Reads and manages the billing account's invoices.",
    ["billingAccount"],
    ["billing/read", "charges/read", "invoices/*", "roleDefinitions/read"],
  ),
  role(
    "Enterprise administrator",
    "Manages the enrollment: departments, accounts, policies, charges, invoices and access.",
    ["enrollment"],
    [
      "billing/*",
      "charges/*",
      "invoices/*",
      "usage/read",
      "enrollmentPolicies/*",
      "roleAssignments/*",
      "roleDefinitions/read",
    ],
  ),
  role(
    "Enterprise administrator (read only)",
    "Reads everything in the enrollment, charges included.",
    ["enrollment"],
    ["charges/read", "invoices/read", "enrollmentPolicies/read", ...BILLING_READ],
  ),
  role(
    "Department administrator",
    "Manages a department and its accounts; sees charges when the enrollment allows it.",
    ["department"],
    ["billing/*", ...BILLING_READ],
    { policyActions: [{ policy: "departmentAdminsCanViewCharges", actions: ["charges/read"] }] },
  ),
  role(
    "Department administrator (read only)",
    "Reads a department and its accounts; sees charges when the enrollment allows it.",
    ["department"],
    BILLING_READ,
    { policyActions: [{ policy: "departmentAdminsCanViewCharges", actions: ["charges/read"] }] },
  ),
  role(
    "Account owner",
    "Reads an enrollment account's usage; sees charges when the enrollment allows it.",
    ["account"],
    BILLING_READ,
    { policyActions: [{ policy: "accountOwnersCanViewCharges", actions: ["charges/read"] }] },
  ),
];

const byName = new Map(ROLES.map((r) => [r.name.toLowerCase(), r]));

/** Role names match case-insensitively; the answer carries the documented spelling. */
export const findRole = (name: string): RoleDefinition | undefined => byName.get(name.toLowerCase());

const compiled = new Map<string, RegExp>();

export function matchesPattern(pattern: string, action: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    const body = pattern
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*");
    re = new RegExp(`^${body}$`);
    compiled.set(pattern, re);
  }
  return re.test(action);
}

const anyMatch = (patterns: readonly string[], action: string) =>
  patterns.some((p) => matchesPattern(p, action));

/**
 * Whether `role` permits `action`. `policy` is the enrollment policy in force where the role is
 * assigned (only enterprise roles consult it); without one, policy-gated actions are refused.
 */
export function rolePermits(role: RoleDefinition, action: string, policy?: EnrollmentPolicy): boolean {
  if (anyMatch(role.notActions, action)) return false;
  if (anyMatch(role.actions, action)) return true;
  return role.policyActions.some((p) => policy?.[p.policy] === true && anyMatch(p.actions, action));
}

/** A role that can grant roles: handing it out requires holding it (or Owner) oneself. */
export const isPrivileged = (r: RoleDefinition): boolean => rolePermits(r, "roleAssignments/write");

/** The concrete actions of today's `ACTIONS` a role permits (for `/api/v1/role-definitions`). */
export function permittedActions(r: RoleDefinition): {
  always: string[];
  byPolicy: Record<string, string[]>;
} {
  const always = ACTIONS.filter((a) => rolePermits(r, a));
  const byPolicy: Record<string, string[]> = {};
  for (const p of r.policyActions) {
    byPolicy[p.policy] = ACTIONS.filter((a) => !always.includes(a) && anyMatch(p.actions, a));
  }
  return { always, byPolicy };
}
