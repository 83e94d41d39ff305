import type { Actor } from "../audit/repository.js";
import { appendAudit } from "../audit/repository.js";
import { DomainError } from "../domain/errors.js";
import { canonicalGuid } from "../domain/ids.js";
import { toIso } from "../domain/time.js";
import { RegistrationError } from "./errors.js";
import type { Deps, RegistrationRef } from "./registration.js";
import { requireRegistration } from "./registration.js";
import {
  type CustomerSubscriptionRow,
  findCustomerSubscription,
  listCustomerSubscriptionRows,
} from "./repository.js";

/**
 * Customer (CSP) subscriptions: the upstream subscription a tenant's usage is charged to instead
 * of the registration's default one (reference §7.3, §7.4). One per tenant; ids are kept as given
 * and compared case-insensitively.
 */
export interface CustomerSubscription {
  /** The upstream subscription id, as given when it was added. */
  id: string;
  registrationName: string;
  tenantId: string;
  createdAt: string;
  updatedAt: string;
}

const toView = (registrationName: string, r: CustomerSubscriptionRow): CustomerSubscription => ({
  id: r.subscription_id,
  registrationName,
  tenantId: r.tenant_id,
  createdAt: toIso(r.created_at),
  updatedAt: toIso(r.updated_at),
});

function keyOf(id: string): string {
  const key = canonicalGuid(id);
  if (key === undefined)
    throw new RegistrationError(
      "InvalidCustomerSubscriptionId",
      `'${id}' is not a valid subscription id: upstream subscriptions are GUIDs.`,
    );
  return key;
}

const notFound = (id: string, registration: string) =>
  new RegistrationError(
    "CustomerSubscriptionNotFound",
    `customer subscription '${id}' has not been added to registration '${registration}'.`,
  );

/**
 * Adds a tenant's customer subscription, or replaces it: a tenant has one, so a second
 * subscription for the same tenant takes the first one's place. Applies to windows forwarded
 * from now on; usage already forwarded stays where it went.
 */
export async function putCustomerSubscription(
  deps: Deps,
  actor: Actor,
  ref: RegistrationRef,
  id: string,
  input: { tenantId: string },
): Promise<{ customerSubscription: CustomerSubscription; created: boolean }> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const reg = await requireRegistration(trx, ref);
    const key = keyOf(id);
    const tenantId = canonicalGuid(input.tenantId);
    if (tenantId === undefined)
      throw new DomainError("ValidationFailed", "tenantId: must be a GUID (the tenant's directory id)", [
        { field: "tenantId", reason: "must be a GUID (the tenant's directory id)" },
      ]);
    if (reg.billing_model === "Capacity") {
      throw new RegistrationError(
        "CustomerSubscriptionsNotAllowed",
        `registration '${reg.name}' uses the Capacity billing model; only PayAsYouUse (and Development) registrations can add customer subscriptions.`,
      );
    }
    const before = await findCustomerSubscription(trx, reg.object_id, key);
    const replaced = await trx
      .selectFrom("registration_customer_subscriptions")
      .select("subscription_id")
      .where("registration_id", "=", reg.object_id)
      .where("tenant_id", "=", tenantId)
      .where("subscription_key", "<>", key)
      .execute();
    if (replaced.length) {
      await trx
        .deleteFrom("registration_customer_subscriptions")
        .where("registration_id", "=", reg.object_id)
        .where("tenant_id", "=", tenantId)
        .where("subscription_key", "<>", key)
        .execute();
    }
    await trx
      .insertInto("registration_customer_subscriptions")
      .values({
        registration_id: reg.object_id,
        subscription_key: key,
        subscription_id: id,
        tenant_id: tenantId,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.columns(["registration_id", "subscription_key"]).doUpdateSet({
          subscription_id: id,
          tenant_id: tenantId,
          updated_at: now,
        }),
      )
      .execute();
    await appendAudit(trx, actor, now, {
      action: "registrations/write",
      target: `/registrations/${reg.name}/customerSubscriptions/${key}`,
      details: {
        op: before ? "update" : "create",
        tenantId,
        ...(before && before.tenant_id !== tenantId ? { previousTenantId: before.tenant_id } : {}),
        ...(replaced.length ? { replaced: replaced.map((r) => r.subscription_id) } : {}),
      },
    });
    const row = (await findCustomerSubscription(trx, reg.object_id, key))!;
    return { customerSubscription: toView(reg.name, row), created: !before };
  });
}

export async function getCustomerSubscription(
  deps: Pick<Deps, "store">,
  ref: RegistrationRef,
  id: string,
): Promise<CustomerSubscription> {
  const reg = await requireRegistration(deps.store.db, ref);
  const key = canonicalGuid(id);
  const row =
    key === undefined ? undefined : await findCustomerSubscription(deps.store.db, reg.object_id, key);
  if (!row) throw notFound(id, reg.name);
  return toView(reg.name, row);
}

export async function listCustomerSubscriptions(
  deps: Pick<Deps, "store">,
  ref: RegistrationRef,
): Promise<CustomerSubscription[]> {
  const reg = await requireRegistration(deps.store.db, ref);
  return (await listCustomerSubscriptionRows(deps.store.db, reg.object_id)).map((r) => toView(reg.name, r));
}

/** Removes a tenant's customer subscription: its usage goes to the default subscription again. Answers false if absent. */
export async function deleteCustomerSubscription(
  deps: Deps,
  actor: Actor,
  ref: RegistrationRef,
  id: string,
): Promise<boolean> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const reg = await requireRegistration(trx, ref);
    const key = canonicalGuid(id);
    const row = key === undefined ? undefined : await findCustomerSubscription(trx, reg.object_id, key);
    if (!row) return false;
    await trx
      .deleteFrom("registration_customer_subscriptions")
      .where("registration_id", "=", reg.object_id)
      .where("subscription_key", "=", row.subscription_key)
      .execute();
    await appendAudit(trx, actor, now, {
      action: "registrations/delete",
      target: `/registrations/${reg.name}/customerSubscriptions/${row.subscription_key}`,
      details: { op: "delete", tenantId: row.tenant_id },
    });
    return true;
  });
}
