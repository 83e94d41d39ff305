import { type Kysely, sql } from "kysely";
import { appendAudit } from "./audit/repository.js";
import { insertAssignment } from "./auth/repository.js";
import { seedCatalogue } from "./catalogue/service.js";
import { newGuid } from "./domain/ids.js";
import { ensureOffers } from "./offers/service.js";
import type { Store } from "./storage/database.js";
import type { DB } from "./storage/schema.js";
import { DEFAULT_OFFER_ID } from "./subscriptions/service.js";

/** The things that exist from the first start: the operator, its directory, root provider and default provider subscription. */
export interface SystemIds {
  operatorPrincipalId: string;
  operatorDirectoryId: string;
  rootProviderId: string;
  defaultProviderSubscriptionId: string;
}

export const ROOT_PROVIDER_ID = "operator";

/** The built-in source of history imports that name no source of their own (it has no API key). */
export const IMPORT_SOURCE_NAME = "import";

const META_KEYS = {
  operatorPrincipalId: "operator_principal_id",
  operatorDirectoryId: "operator_directory_id",
  defaultProviderSubscriptionId: "default_provider_subscription_id",
  operatorOwnerAssigned: "operator_owner_assigned",
} as const;

async function readMeta(db: Kysely<DB>): Promise<Map<string, string>> {
  const rows = await db.selectFrom("meta").selectAll().execute();
  return new Map(rows.map((r) => [r.key, r.value]));
}

/**
 * Creates what a fresh database needs, once; safe to run on every start and from several nodes at
 * once (a PostgreSQL advisory lock, or SQLite's write lock, serialises it).
 */
export async function bootstrap(store: Store, now: number): Promise<SystemIds> {
  await store.db.transaction().execute(async (trx) => {
    if (store.dialect === "postgres") await sql`select pg_advisory_xact_lock(7310023)`.execute(trx);
    const meta = await readMeta(trx);
    if (!meta.has(META_KEYS.operatorPrincipalId)) {
      const principalId = newGuid();
      const directoryId = newGuid();
      const subscriptionId = newGuid();
      await trx
        .insertInto("directories")
        .values({ id: directoryId, display_name: "Operator", created_at: now, updated_at: now })
        .execute();
      await trx
        .insertInto("providers")
        .values({
          id: ROOT_PROVIDER_ID,
          display_name: "Operator",
          parent_id: null,
          subscription_id: subscriptionId,
          created_at: now,
          updated_at: now,
          deleted_at: null,
        })
        .execute();
      await trx
        .insertInto("subscriptions")
        .values({
          id: subscriptionId,
          display_name: "Default Provider Subscription",
          directory_id: directoryId,
          provider_id: ROOT_PROVIDER_ID,
          offer_id: DEFAULT_OFFER_ID,
          state: "Active",
          created_at: now,
          updated_at: now,
          deleted_at: null,
        })
        .execute();
      await trx
        .insertInto("principals")
        .values({
          id: principalId,
          kind: "operator",
          display_name: "Operator",
          directory_id: directoryId,
          created_at: now,
        })
        .execute();
      await trx
        .insertInto("meta")
        .values([
          { key: META_KEYS.operatorPrincipalId, value: principalId },
          { key: META_KEYS.operatorDirectoryId, value: directoryId },
          { key: META_KEYS.defaultProviderSubscriptionId, value: subscriptionId },
        ])
        .execute();
    }
    const importSource = await trx
      .selectFrom("sources")
      .select("id")
      .where("name", "=", IMPORT_SOURCE_NAME)
      .executeTakeFirst();
    if (!importSource) {
      await trx
        .insertInto("sources")
        .values({
          id: newGuid(),
          name: IMPORT_SOURCE_NAME,
          created_at: now,
          updated_at: now,
          disabled_at: null,
        })
        .execute();
    }
    if (!meta.has(META_KEYS.operatorOwnerAssigned)) await assignOperatorOwner(trx, now);
    await adoptOffers(trx, now);
    await seedCatalogue(trx, now);
  });
  return readSystemIds(store.db);
}

/**
 * Gives the operator principal Owner on `/`, once per database (also on databases created before
 * role assignments existed). Once done it is not redone, so an operator who later hands Owner to
 * someone else and removes their own keeps it removed.
 */
async function assignOperatorOwner(db: Kysely<DB>, now: number): Promise<void> {
  const operator = (await readMeta(db)).get(META_KEYS.operatorPrincipalId)!;
  const id = newGuid();
  await insertAssignment(db, {
    id,
    principal_id: operator,
    role: "Owner",
    scope: "/",
    created_at: now,
    created_by: operator,
  });
  await appendAudit(db, { principalId: operator, requestId: "bootstrap" }, now, {
    action: "roleAssignments/write",
    target: `/roleAssignments/${id}`,
    details: { op: "create", principalId: operator, role: "Owner", scope: "/" },
  });
  await db
    .insertInto("meta")
    .values({ key: META_KEYS.operatorOwnerAssigned, value: String(now) })
    .execute();
}

/**
 * The default offer (part of the first start, like the root provider, so not audited), and offers
 * for the offer ids subscriptions carried before offers existed (audited: they appear later).
 */
async function adoptOffers(db: Kysely<DB>, now: number): Promise<void> {
  const adopted = (await ensureOffers(db, ROOT_PROVIDER_ID, now)).filter((id) => id !== DEFAULT_OFFER_ID);
  const operator = (await readMeta(db)).get(META_KEYS.operatorPrincipalId)!;
  for (const id of adopted) {
    await appendAudit(db, { principalId: operator, requestId: "bootstrap" }, now, {
      action: "offers/write",
      target: `/offers/${id}`,
      details: { op: "create", providerId: ROOT_PROVIDER_ID, reason: "bootstrap" },
    });
  }
}

export async function readSystemIds(db: Kysely<DB>): Promise<SystemIds> {
  const meta = await readMeta(db);
  const get = (k: string) => {
    const v = meta.get(k);
    if (v === undefined) throw new Error("the database has not been initialised; run `tally migrate`");
    return v;
  };
  return {
    operatorPrincipalId: get(META_KEYS.operatorPrincipalId),
    operatorDirectoryId: get(META_KEYS.operatorDirectoryId),
    rootProviderId: ROOT_PROVIDER_ID,
    defaultProviderSubscriptionId: get(META_KEYS.defaultProviderSubscriptionId),
  };
}
