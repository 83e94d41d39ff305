/** Who is calling: a user or service principal from a token, the operator, or a resource provider (source) by API key. */
export interface Principal {
  id: string;
  kind: "operator" | "user" | "service" | "source";
  displayName: string;
  /** The directory (tenant) the principal signed in from, when it has one. */
  directoryId: string | null;
  /** For sources: the internal key used in usage storage. */
  sourceSeq?: number;
  /** For sources: `bridge` when the source is another cloud's usage bridge (docs/bridge.md). */
  sourceKind?: "provider" | "bridge";
}

/**
 * The actions routes declare and roles grant. Role definitions (`roles.ts`) grant them by
 * pattern (`*`, `usage/*`, `*\/read`), so an action added here by a later capability is covered by
 * every role whose patterns match it, without editing the roles. Read actions end in `/read`.
 */
export const ACTIONS = [
  "directories/read",
  "directories/write",
  "directories/delete",
  "providers/read",
  "providers/write",
  "providers/delete",
  "subscriptions/read",
  "subscriptions/write",
  "subscriptions/delete",
  "sources/read",
  "sources/write",
  "sources/delete",
  "sources/keys/write",
  "sources/keys/delete",
  "meters/read",
  "meters/write",
  "usage/read",
  "usage/write",
  "usage/import",
  "audit/read",
  "roleAssignments/read",
  "roleAssignments/write",
  "roleAssignments/delete",
  "roleDefinitions/read",
  "enrollmentPolicies/read",
  "enrollmentPolicies/write",
  // Rating: offers, their price sheets and markups, and charge previews.
  "offers/read",
  "offers/write",
  "offers/delete",
  "prices/read",
  "prices/write",
  "rates/read",
  // Registration and the usage bridge (issue 8).
  "registrations/read",
  "registrations/write",
  "registrations/delete",
  "bridge/read",
  "bridge/write",
  // Billing (issue 7): billing accounts and periods, money amounts, invoices.
  "billing/read",
  "billing/write",
  "charges/read",
  "invoices/read",
  "invoices/write",
] as const;

export type Action = (typeof ACTIONS)[number];

export const isReadAction = (action: string): boolean => action.endsWith("/read");

/** What a source (API key) may do: report usage, for itself only. Nothing else, anywhere. */
export const SOURCE_ACTIONS: readonly Action[] = ["usage/write"];
