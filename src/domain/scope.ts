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
