import { DomainError } from "../domain/errors.js";

/** Who is calling: a user or service principal from a token, the operator, or a resource provider (source) by API key. */
export interface Principal {
  id: string;
  kind: "operator" | "user" | "service" | "source";
  displayName: string;
  /** The directory (tenant) the principal signed in from, when it has one. */
  directoryId: string | null;
  /** For sources: the internal key used in usage storage. */
  sourceSeq?: number;
}

/**
 * The actions routes declare. Role definitions (identity issue) grant sets of these; until then
 * only the operator holds any.
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
  "usage/import",
  "audit/read",
] as const;

export type Action = (typeof ACTIONS)[number];

/** Foundation rule: the operator may do everything, nobody else anything (the identity issue adds roles). */
export function authorize(principal: Principal, action: Action): void {
  if (principal.kind === "operator") return;
  throw new DomainError("Forbidden", `principal '${principal.id}' may not perform '${action}'.`);
}
