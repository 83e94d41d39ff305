import type { Kysely } from "kysely";
import { type DomainError, invalid, notFound } from "../domain/errors.js";
import { canonicalGuid } from "../domain/ids.js";
import {
  billingChain,
  type ChainLink,
  formatScope,
  parseScope,
  ROOT_CHAIN,
  type ScopeChain,
  type ScopeRef,
  type SubscriptionScope,
} from "../domain/scope.js";
import { findProvider, type ProviderRow, providerTreeRows } from "../providers/repository.js";
import { perStore, type Store } from "../storage/database.js";
import type { DB } from "../storage/schema.js";
import { findSubscription, type SubscriptionRow } from "../subscriptions/repository.js";
import { type Access, forbidden } from "./access.js";
import { grantPermits } from "./authorize.js";
import { isReadAction, type Principal } from "./principal.js";

/** What the scoping helpers need: the database and the authorization cache. */
export interface AccessDeps {
  store: Store;
  access: Access;
}

interface Node {
  id: string;
  parentId: string | null;
  subscriptionId: string;
}

/**
 * The provider tree (deleted providers included), loaded per operation: it is small, and a
 * provider created a moment ago must already have its place in every chain.
 */
export class ProviderTree {
  private readonly nodes = new Map<string, Node>();
  private readonly bySubscription = new Map<string, string>();
  private readonly children = new Map<string, string[]>();

  private constructor(rows: readonly { id: string; parent_id: string | null; subscription_id: string }[]) {
    for (const r of rows) {
      this.nodes.set(r.id, { id: r.id, parentId: r.parent_id, subscriptionId: r.subscription_id });
      this.bySubscription.set(r.subscription_id, r.id);
      if (r.parent_id !== null)
        this.children.set(r.parent_id, [...(this.children.get(r.parent_id) ?? []), r.id]);
    }
  }

  static async load(db: Kysely<DB>): Promise<ProviderTree> {
    return new ProviderTree(await providerTreeRows(db));
  }

  has(id: string): boolean {
    return this.nodes.has(id);
  }

  isRoot(id: string): boolean {
    return this.nodes.get(id)?.parentId === null;
  }

  /** `/`, then `/providers/…` for each delegated provider from the top down to `providerId`. */
  chain(providerId: string): ChainLink[] {
    const path: string[] = [];
    const seen = new Set<string>();
    for (let n = this.nodes.get(providerId); n && n.parentId !== null && !seen.has(n.id); ) {
      seen.add(n.id);
      path.unshift(n.id);
      n = this.nodes.get(n.parentId);
    }
    return [
      ...ROOT_CHAIN,
      ...path.map((id) => ({ scope: formatScope({ kind: "provider", providerId: id }) })),
    ];
  }

  /** `providerId` and every provider above it, up to the root, nearest first. */
  ancestors(providerId: string): string[] {
    const out: string[] = [];
    for (let n = this.nodes.get(providerId); n && !out.includes(n.id); ) {
      out.push(n.id);
      n = n.parentId === null ? undefined : this.nodes.get(n.parentId);
    }
    return out;
  }

  /** `providerId` and every provider below it. */
  descendants(providerId: string): string[] {
    const out: string[] = [];
    const stack = [providerId];
    const seen = new Set<string>();
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(id);
      stack.push(...(this.children.get(id) ?? []));
    }
    return out;
  }

  /** The delegated provider whose own provider subscription this is (never the root). */
  providerOwning(subscriptionId: string): string | undefined {
    const id = this.bySubscription.get(subscriptionId);
    return id !== undefined && !this.isRoot(id) ? id : undefined;
  }

  /** The provider (root included) whose own provider subscription this is. */
  providerOf(subscriptionId: string): string | undefined {
    return this.bySubscription.get(subscriptionId);
  }

  subscriptionOf(providerId: string): string | undefined {
    return this.nodes.get(providerId)?.subscriptionId;
  }

  /**
   * A subscription's chain: its offering provider's chain, then (for a provider subscription) the
   * provider it belongs to as a read-only link, then the subscription itself.
   */
  subscriptionChain(s: Pick<SubscriptionRow, "id" | "provider_id">): ScopeChain {
    const owner = this.providerOwning(s.id);
    return [
      ...this.chain(s.provider_id),
      ...(owner !== undefined ? [{ scope: `/providers/${owner}`, readOnly: true }] : []),
      { scope: `/subscriptions/${s.id}` },
    ];
  }
}

/**
 * The chain of any assignable scope, or undefined when the provider or subscription it names
 * does not exist. Billing and enrollment scopes are not entities yet (billing issue): their
 * chain follows from the path.
 */
export async function chainOfScope(db: Kysely<DB>, scope: ScopeRef): Promise<ScopeChain | undefined> {
  switch (scope.kind) {
    case "provider": {
      const tree = await ProviderTree.load(db);
      return tree.has(scope.providerId) ? tree.chain(scope.providerId) : undefined;
    }
    case "subscription": {
      const row = await findSubscription(db, scope.subscriptionId);
      return row ? (await ProviderTree.load(db)).subscriptionChain(row) : undefined;
    }
    default:
      return billingChain(scope);
  }
}

/**
 * The subscriptions `principal` may perform `action` on, for repositories to scope their queries
 * with: `"all"` with the action at `/`; otherwise the subscriptions it holds the action on, the
 * whole subtree of each provider it holds the action at, and, for read actions, those providers'
 * own provider subscriptions.
 */
export async function visibleSubscriptions(
  svc: AccessDeps,
  principal: Principal,
  action: string,
): Promise<SubscriptionScope> {
  if (await svc.access.can(principal, action, ROOT_CHAIN)) return "all";
  const grants = (await svc.access.grantsOf(principal)).filter((g) => grantPermits(g, action));
  const subscriptionIds = new Set<string>();
  const providerIds = new Set<string>();
  let tree: ProviderTree | undefined;
  for (const g of grants) {
    const s = parseScope(g.scope);
    if (typeof s === "string") continue;
    if (s.kind === "subscription") subscriptionIds.add(s.subscriptionId);
    if (s.kind === "provider") {
      tree ??= await ProviderTree.load(svc.store.db);
      if (!tree.has(s.providerId)) continue;
      for (const id of tree.descendants(s.providerId)) providerIds.add(id);
      const own = tree.subscriptionOf(s.providerId);
      if (isReadAction(action) && own !== undefined) subscriptionIds.add(own);
    }
  }
  return { subscriptionIds: [...subscriptionIds], providerIds: [...providerIds] };
}

/** The providers `principal` may perform `action` on: all with the action at `/`, else the subtrees it holds it at. */
export async function visibleProviders(
  svc: AccessDeps,
  principal: Principal,
  action: string,
): Promise<"all" | string[]> {
  if (await svc.access.can(principal, action, ROOT_CHAIN)) return "all";
  const grants = (await svc.access.grantsOf(principal)).filter((g) => grantPermits(g, action));
  const ids = new Set<string>();
  let tree: ProviderTree | undefined;
  for (const g of grants) {
    const s = parseScope(g.scope);
    if (typeof s === "string" || s.kind !== "provider") continue;
    tree ??= await ProviderTree.load(svc.store.db);
    if (tree.has(s.providerId)) for (const id of tree.descendants(s.providerId)) ids.add(id);
  }
  return [...ids];
}

/**
 * The 404-versus-403 rule in one place: a principal that may not even read the resource learns
 * nothing about it (NotFound, the same answer as for a resource that does not exist); one that
 * can read it but lacks `action` gets Forbidden. `actChain` is where `action` is checked when it
 * differs from where the resource is seen (a subscription's lifecycle belongs to its provider).
 */
async function guard(
  svc: AccessDeps,
  principal: Principal,
  action: string,
  o: { readAction: string; chain: ScopeChain; actChain?: ScopeChain; missing: () => DomainError },
): Promise<void> {
  if (await svc.access.can(principal, action, o.actChain ?? o.chain)) return;
  if (await svc.access.can(principal, o.readAction, o.chain)) throw forbidden(principal, action);
  throw o.missing();
}

/**
 * Creating something below a provider (a subscription it offers, a child provider) needs `action`
 * at that provider. When the caller named the provider in the request (`field`) and cannot see
 * it, the answer is the same as for a provider that does not exist: 400 on that field.
 */
export async function requireAtProvider(
  svc: AccessDeps,
  principal: Principal,
  action: string,
  providerId: string,
  field?: string,
): Promise<void> {
  const tree = await ProviderTree.load(svc.store.db);
  const chain = tree.chain(providerId);
  if (await svc.access.can(principal, action, chain)) return;
  if (
    field !== undefined &&
    !(tree.has(providerId) && (await svc.access.can(principal, "providers/read", chain)))
  )
    throw invalid(field, `provider '${providerId}' does not exist`);
  throw forbidden(principal, action);
}

/**
 * Resolves a subscription for an action: answers its row, or throws NotFound when it does not
 * exist or `principal` cannot see it, Forbidden when it can see it but may not perform `action`.
 * `manage: true` checks the action at the offering provider's scope instead of the
 * subscription's own (changing the offer or state, deleting: the provider's decisions).
 */
export async function requireOnSubscription(
  svc: AccessDeps,
  principal: Principal,
  action: string,
  subscriptionId: string,
  opts: { manage?: boolean } = {},
): Promise<SubscriptionRow> {
  const id = canonicalGuid(subscriptionId);
  const row = id === undefined ? undefined : await findSubscription(svc.store.db, id);
  if (!row) throw notFound("subscription", subscriptionId);
  const tree = await ProviderTree.load(svc.store.db);
  const chain = tree.subscriptionChain(row);
  await guard(svc, principal, action, {
    readAction: "subscriptions/read",
    chain,
    ...(opts.manage ? { actChain: tree.chain(row.provider_id) } : {}),
    missing: () => notFound("subscription", subscriptionId),
  });
  return row;
}

/**
 * Resolves a live provider for an action, like `requireOnSubscription`. `manage: true` checks the
 * action at the parent's scope (a provider's existence is its parent's decision).
 */
export async function requireOnProvider(
  svc: AccessDeps,
  principal: Principal,
  action: string,
  providerId: string,
  opts: { manage?: boolean } = {},
): Promise<ProviderRow> {
  const row = await findProvider(svc.store.db, providerId);
  if (!row || row.deleted_at !== null) throw notFound("provider", providerId);
  const tree = await ProviderTree.load(svc.store.db);
  await guard(svc, principal, action, {
    readAction: "providers/read",
    chain: tree.chain(row.id),
    ...(opts.manage ? { actChain: row.parent_id === null ? ROOT_CHAIN : tree.chain(row.parent_id) } : {}),
    missing: () => notFound("provider", providerId),
  });
  return row;
}

/** What never changes about a subscription once it exists: its keys and the provider that offers it. */
export type SubscriptionKeys = Pick<SubscriptionRow, "id" | "seq" | "provider_id">;

/** What never changes about a provider once it exists: its id and its provider subscription. */
export type ProviderKeys = Pick<ProviderRow, "id" | "subscription_id">;

/**
 * Facts the usage APIs authorize with on every page, kept per store: the provider tree and the
 * keys of the subscriptions seen. Neither changes once it exists (ids, parents, provider
 * subscriptions and offering providers are never updated; deletion is a state), so what was read
 * once stays true, and the tree is read again only when asked about a provider or subscription it
 * does not hold yet, or after a subscription is first seen (a new provider subscription is
 * created with its provider). What does change, the principal's role assignments, stays with
 * `Access` and its short cache.
 */
interface KnownScopes {
  tree: ProviderTree | undefined;
  subscriptions: Map<string, SubscriptionKeys>;
}

const MAX_KNOWN_SUBSCRIPTIONS = 100_000;

const knownScopesOf = perStore((): KnownScopes => ({ tree: undefined, subscriptions: new Map() }));

async function freshTree(store: Store): Promise<ProviderTree> {
  const tree = await ProviderTree.load(store.db);
  knownScopesOf(store).tree = tree;
  return tree;
}

/** A subscription's keys, with a provider tree that already holds its provider (and any provider it is the subscription of). */
async function knownSubscription(
  store: Store,
  id: string,
): Promise<{ keys: SubscriptionKeys; tree: ProviderTree } | undefined> {
  const k = knownScopesOf(store);
  const hit = k.subscriptions.get(id);
  if (hit !== undefined && k.tree !== undefined) return { keys: hit, tree: k.tree };
  const row = await findSubscription(store.db, id);
  if (!row) return undefined;
  const keys: SubscriptionKeys = { id: row.id, seq: Number(row.seq), provider_id: row.provider_id };
  // Read after the subscription: the tree then holds whatever provider was created with it.
  const tree = await freshTree(store);
  if (k.subscriptions.size >= MAX_KNOWN_SUBSCRIPTIONS) k.subscriptions.clear();
  k.subscriptions.set(id, keys);
  return { keys, tree };
}

/**
 * `requireOnSubscription` for the usage APIs, which need only the subscription's keys: the same
 * decision (NotFound, Forbidden), taken on the kept facts and the cached role assignments, so a
 * page of usage costs no authorization query.
 */
export async function requireUsageOnSubscription(
  svc: AccessDeps,
  principal: Principal,
  action: string,
  subscriptionId: string,
): Promise<SubscriptionKeys> {
  const id = canonicalGuid(subscriptionId);
  const found = id === undefined ? undefined : await knownSubscription(svc.store, id);
  if (!found) throw notFound("subscription", subscriptionId);
  await guard(svc, principal, action, {
    readAction: "subscriptions/read",
    chain: found.tree.subscriptionChain(found.keys),
    missing: () => notFound("subscription", subscriptionId),
  });
  return found.keys;
}

/**
 * Resolves a provider subscription (the one the Azure operator usage API is called on) for an
 * action on its provider's data: answers the provider and the subscription. The caller must hold
 * the action on the provider subscription itself (Azure: "Owner, Contributor or Reader on the
 * provider subscription"; its chain runs through the parent that offers it, and for a read action
 * through the provider's own read-only link) or at the provider's scope (a provider's
 * administrators). Throws NotFound when `subscriptionId` is no provider subscription or the caller
 * can see neither, and Forbidden when it can see one but lacks `action`. The direct tenants are then
 * `listDirectTenantRows(db, provider)` (in SQL: `provider_id = provider.id and id <>
 * provider.subscription_id`). Decided on the kept facts (see `KnownScopes`): no query once the
 * provider subscription has been seen.
 */
export async function requireOnProviderSubscription(
  svc: AccessDeps,
  principal: Principal,
  action: string,
  subscriptionId: string,
): Promise<{ provider: ProviderKeys; subscription: SubscriptionKeys }> {
  const id = canonicalGuid(subscriptionId);
  const missing = () => notFound("provider subscription", subscriptionId);
  if (id === undefined) throw missing();
  const known = knownScopesOf(svc.store);
  let tree = known.tree;
  if (tree?.providerOf(id) === undefined) tree = await freshTree(svc.store);
  const providerId = tree.providerOf(id);
  if (providerId === undefined) throw missing();
  const found = await knownSubscription(svc.store, id);
  if (!found) throw missing();
  tree = found.tree;
  const provider: ProviderKeys = { id: providerId, subscription_id: id };
  const atProvider = tree.chain(providerId);
  const onSubscription = tree.subscriptionChain(found.keys);
  if (
    (await svc.access.can(principal, action, atProvider)) ||
    (await svc.access.can(principal, action, onSubscription))
  )
    return { provider, subscription: found.keys };
  if (
    (await svc.access.can(principal, "providers/read", atProvider)) ||
    (await svc.access.can(principal, "subscriptions/read", onSubscription))
  )
    throw forbidden(principal, action);
  throw missing();
}

/**
 * Whether `subscriptionId` is a direct tenant of `provider` (offered by it, deleted ones
 * included, its own provider subscription excluded), from the kept facts: its keys when it is.
 */
export async function directTenantKeys(
  store: Store,
  provider: ProviderKeys,
  subscriptionId: string,
): Promise<SubscriptionKeys | undefined> {
  const found = await knownSubscription(store, subscriptionId);
  return found && found.keys.provider_id === provider.id && found.keys.id !== provider.subscription_id
    ? found.keys
    : undefined;
}

/**
 * Whether `principal` may see money (charges, prices applied, invoice amounts) at a scope, as
 * opposed to usage quantities only. Enterprise roles consult their enrollment's policies
 * ("department administrators / account owners can view charges").
 */
export const canViewCharges = (svc: AccessDeps, principal: Principal, chain: ScopeChain): Promise<boolean> =>
  svc.access.can(principal, "charges/read", chain);

/** True when the principal holds `action` at `/` or at some provider scope (onboarding tenants). */
export async function canAtRootOrAnyProvider(
  svc: AccessDeps,
  principal: Principal,
  action: string,
): Promise<boolean> {
  if (await svc.access.can(principal, action, ROOT_CHAIN)) return true;
  const grants = await svc.access.grantsOf(principal);
  return grants.some((g) => g.scope.startsWith("/providers/") && grantPermits(g, action));
}
