import { canonicalGuid, SLUG } from "./ids.js";

/**
 * What part of the subscription space a principal may see for some action: everything, or the
 * union of some subscriptions and of the subscriptions some providers offer (provider ids already
 * expanded to the whole subtree). Repositories take this and scope their queries with it; they
 * never filter results afterwards.
 */
export type SubscriptionScope =
  | "all"
  | { readonly subscriptionIds: readonly string[]; readonly providerIds: readonly string[] };

export const EVERYTHING: SubscriptionScope = "all";

/**
 * A role assignment scope. `/` is the operator; providers and subscriptions are the resource
 * hierarchy; billing accounts and the enterprise enrollment tree are the billing hierarchy.
 */
export type ScopeRef =
  | { kind: "root" }
  | { kind: "provider"; providerId: string }
  | { kind: "subscription"; subscriptionId: string }
  | { kind: "billingAccount"; billingAccountId: string }
  | { kind: "enrollment"; enrollmentId: string }
  | { kind: "department"; enrollmentId: string; departmentId: string }
  | { kind: "account"; enrollmentId: string; departmentId: string; accountId: string };

export type ScopeKind = ScopeRef["kind"];

export const SCOPE_KINDS: readonly ScopeKind[] = [
  "root",
  "provider",
  "subscription",
  "billingAccount",
  "enrollment",
  "department",
  "account",
];

/**
 * One step of a resource's scope chain, from `/` down to the resource. A `readOnly` link lets
 * assignments at that scope grant only read actions: a delegated provider sees its own provider
 * subscription, but that subscription belongs to the parent that offers it.
 */
export interface ChainLink {
  readonly scope: string;
  readonly readOnly?: boolean;
}

export type ScopeChain = readonly ChainLink[];

export const ROOT_SCOPE = "/";
export const ROOT_CHAIN: ScopeChain = [{ scope: ROOT_SCOPE }];

/** Billing and enrollment ids come from commerce systems (e.g. `1234:5678_2019-05-31`). */
const BILLING_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const KEYWORDS = {
  providers: "providers",
  subscriptions: "subscriptions",
  billingaccounts: "billingAccounts",
  enrollments: "enrollments",
  departments: "departments",
  accounts: "accounts",
} as const;

const SHAPES =
  "/, /providers/{id}, /subscriptions/{guid}, /billingAccounts/{id}, /enrollments/{id}, " +
  "/enrollments/{id}/departments/{id} or /enrollments/{id}/departments/{id}/accounts/{id}";

function billingId(what: string, s: string): string | { reason: string } {
  return BILLING_ID.test(s)
    ? s
    : { reason: `${what} '${s}' must be 1-128 letters, digits, '.', '_', ':' or '-'` };
}

/**
 * Parses a scope path into its canonical form: keywords in their documented case (matched
 * case-insensitively, as Azure does), subscription GUIDs lower-case and hyphenated, one trailing
 * slash tolerated. Returns the scope or the reason it is malformed.
 */
export function parseScope(text: string): ScopeRef | string {
  if (text === ROOT_SCOPE) return { kind: "root" };
  const trimmed = text.length > 1 && text.endsWith("/") ? text.slice(0, -1) : text;
  if (!trimmed.startsWith("/")) return `must start with '/': one of ${SHAPES}`;
  const parts = trimmed.slice(1).split("/");
  const keyword = (p: string) => {
    const k = p.toLowerCase();
    return Object.hasOwn(KEYWORDS, k) ? KEYWORDS[k as keyof typeof KEYWORDS] : "?";
  };
  const keys = parts.map((p, i) => (i % 2 === 0 ? keyword(p) : p));
  const shape = keys.filter((_, i) => i % 2 === 0).join("/");
  const ids = parts.filter((_, i) => i % 2 === 1);
  if (parts.length % 2 !== 0 || ids.some((id) => id === "")) return `must be one of ${SHAPES}`;
  switch (shape) {
    case "providers": {
      const id = ids[0]!;
      return SLUG.test(id) ? { kind: "provider", providerId: id } : `provider id '${id}' is not valid`;
    }
    case "subscriptions": {
      const id = canonicalGuid(ids[0]!);
      return id === undefined
        ? `subscription id '${ids[0]}' must be a GUID`
        : { kind: "subscription", subscriptionId: id };
    }
    case "billingAccounts": {
      const id = billingId("billing account id", ids[0]!);
      return typeof id === "string" ? { kind: "billingAccount", billingAccountId: id } : id.reason;
    }
    case "enrollments":
    case "enrollments/departments":
    case "enrollments/departments/accounts": {
      const checked = ids.map((id, i) => billingId(["enrollment", "department", "account"][i]! + " id", id));
      const bad = checked.find((c) => typeof c !== "string");
      if (bad !== undefined) return (bad as { reason: string }).reason;
      const [e, d, a] = checked as string[];
      if (a !== undefined) return { kind: "account", enrollmentId: e!, departmentId: d!, accountId: a };
      if (d !== undefined) return { kind: "department", enrollmentId: e!, departmentId: d };
      return { kind: "enrollment", enrollmentId: e! };
    }
    default:
      return `must be one of ${SHAPES}`;
  }
}

export function formatScope(s: ScopeRef): string {
  switch (s.kind) {
    case "root":
      return ROOT_SCOPE;
    case "provider":
      return `/providers/${s.providerId}`;
    case "subscription":
      return `/subscriptions/${s.subscriptionId}`;
    case "billingAccount":
      return `/billingAccounts/${s.billingAccountId}`;
    case "enrollment":
      return `/enrollments/${s.enrollmentId}`;
    case "department":
      return `/enrollments/${s.enrollmentId}/departments/${s.departmentId}`;
    case "account":
      return `/enrollments/${s.enrollmentId}/departments/${s.departmentId}/accounts/${s.accountId}`;
  }
}

/**
 * The chain of a billing-side scope, which its path alone determines: `/`, then each enclosing
 * enrollment, department and account. (Provider and subscription chains need the provider tree;
 * see `auth/scoping.ts`.)
 */
export function billingChain(
  s: Extract<ScopeRef, { kind: "root" | "billingAccount" | "enrollment" | "department" | "account" }>,
): ScopeChain {
  const links: ScopeRef[] = [{ kind: "root" }];
  if (s.kind === "billingAccount") links.push(s);
  if (s.kind === "enrollment" || s.kind === "department" || s.kind === "account")
    links.push({ kind: "enrollment", enrollmentId: s.enrollmentId });
  if (s.kind === "department" || s.kind === "account")
    links.push({ kind: "department", enrollmentId: s.enrollmentId, departmentId: s.departmentId });
  if (s.kind === "account") links.push(s);
  return links.map((l) => ({ scope: formatScope(l) }));
}

/** The enrollment a scope lies in, if it is in the enterprise tree (policies are per enrollment). */
export function enrollmentOf(scope: string): string | undefined {
  const s = parseScope(scope);
  return typeof s !== "string" && (s.kind === "enrollment" || s.kind === "department" || s.kind === "account")
    ? s.enrollmentId
    : undefined;
}
