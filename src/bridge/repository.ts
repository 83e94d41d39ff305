import type { Kysely, Selectable } from "kysely";
import type {
  BridgeBatchTable,
  BridgeStateTable,
  DB,
  RegistrationCustomerSubscriptionTable,
  RegistrationTable,
} from "../storage/schema.js";

export type RegistrationRow = Selectable<RegistrationTable>;
export type CustomerSubscriptionRow = Selectable<RegistrationCustomerSubscriptionTable>;
export type BridgeStateRow = Selectable<BridgeStateTable>;
export type BatchRow = Selectable<BridgeBatchTable>;

/** The cloud's registration, if it has one (there is at most one). */
export const findRegistration = (db: Kysely<DB>) =>
  db.selectFrom("registrations").selectAll().executeTakeFirst();

export const listCustomerSubscriptionRows = (db: Kysely<DB>, registrationId: string) =>
  db
    .selectFrom("registration_customer_subscriptions")
    .selectAll()
    .where("registration_id", "=", registrationId)
    .orderBy("subscription_key")
    .execute();

export const findCustomerSubscription = (db: Kysely<DB>, registrationId: string, key: string) =>
  db
    .selectFrom("registration_customer_subscriptions")
    .selectAll()
    .where("registration_id", "=", registrationId)
    .where("subscription_key", "=", key)
    .executeTakeFirst();

export const countCustomerSubscriptions = async (db: Kysely<DB>, registrationId: string) =>
  Number(
    (
      await db
        .selectFrom("registration_customer_subscriptions")
        .select((eb) => eb.fn.countAll().as("n"))
        .where("registration_id", "=", registrationId)
        .executeTakeFirstOrThrow()
    ).n,
  );

/** Tenant → upstream subscription, for the mapping a window is built with. */
export async function tenantMap(db: Kysely<DB>, registrationId: string): Promise<Map<string, string>> {
  const rows = await listCustomerSubscriptionRows(db, registrationId);
  return new Map(rows.map((r) => [r.tenant_id, r.subscription_key]));
}

export const findBridgeState = (db: Kysely<DB>, registrationId: string) =>
  db.selectFrom("bridge_state").selectAll().where("registration_id", "=", registrationId).executeTakeFirst();

/** Batches not yet acknowledged, in the order they are sent. */
export const queuedBatches = (db: Kysely<DB>, registrationId: string) =>
  db
    .selectFrom("bridge_batches")
    .selectAll()
    .where("registration_id", "=", registrationId)
    .where("delivered_at", "is", null)
    .orderBy("window_start")
    .orderBy("part")
    .execute();

/** Removes everything a registration owns, for its deletion. */
export async function deleteRegistrationRows(db: Kysely<DB>, registrationId: string): Promise<void> {
  await db.deleteFrom("bridge_batches").where("registration_id", "=", registrationId).execute();
  await db.deleteFrom("bridge_state").where("registration_id", "=", registrationId).execute();
  await db
    .deleteFrom("registration_customer_subscriptions")
    .where("registration_id", "=", registrationId)
    .execute();
  await db.deleteFrom("registrations").where("object_id", "=", registrationId).execute();
}
