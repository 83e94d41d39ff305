import type { Kysely, Transaction } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { type BillingModel, registrationProblems, type UpstreamType } from "../domain/bridge.js";
import { DomainError } from "../domain/errors.js";
import { canonicalGuid, newGuid } from "../domain/ids.js";
import { floorHour, HOUR, toIso } from "../domain/time.js";
import type { Store } from "../storage/database.js";
import type { DB } from "../storage/schema.js";
import { RegistrationError } from "./errors.js";
import {
  countCustomerSubscriptions,
  deleteRegistrationRows,
  findBridgeState,
  findRegistration,
  queuedBatches,
  type RegistrationRow,
} from "./repository.js";
import type { SecretBox } from "./secrets.js";

export interface Deps {
  store: Store;
  clock: Clock;
  config: Pick<Config, "bridgeAllowHttp">;
  secrets: SecretBox;
}

/** A registration as both APIs show it; the upstream credential is never part of it. */
export interface Registration {
  /** The Azure resource id. */
  id: string;
  name: string;
  /** The registration subscription (the `{subscriptionId}` of the Azure path). */
  subscriptionId: string;
  resourceGroup: string;
  objectId: string;
  cloudId: string;
  billingModel: BillingModel;
  defaultSubscriptionId: string;
  usageReportingEnabled: boolean;
  upstreamType: UpstreamType;
  upstreamUrl: string | null;
  /** Whether a credential is stored (it is write-only). */
  upstreamCredentialSet: boolean;
  tags: Record<string, string> | null;
  etag: string;
  createdAt: string;
  updatedAt: string;
}

/** How a request names the registration: the Azure routes give all three, native ones the name. */
export interface RegistrationRef {
  name: string;
  subscriptionId?: string;
  resourceGroup?: string;
}

export interface RegistrationInput {
  billingModel?: BillingModel;
  defaultSubscriptionId?: string;
  usageReportingEnabled?: boolean;
  upstreamType?: UpstreamType;
  upstreamUrl?: string | null;
  /** Write-only. `null` removes it; omitted keeps the stored one. */
  upstreamCredential?: string | null;
  tags?: Record<string, string> | null;
}

export const DEFAULT_RESOURCE_GROUP = "azurestack";
const CLOUD_ID_KEY = "cloud_id";

export function armId(r: Pick<RegistrationRow, "subscription_id" | "resource_group" | "name">): string {
  return `/subscriptions/${r.subscription_id}/resourceGroups/${r.resource_group}/providers/Microsoft.AzureStack/registrations/${r.name}`;
}

export function toRegistration(r: RegistrationRow): Registration {
  return {
    id: armId(r),
    name: r.name,
    subscriptionId: r.subscription_id,
    resourceGroup: r.resource_group,
    objectId: r.object_id,
    cloudId: r.cloud_id,
    billingModel: r.billing_model,
    defaultSubscriptionId: r.default_subscription_id,
    usageReportingEnabled: r.usage_reporting_enabled === 1,
    upstreamType: r.upstream_type,
    upstreamUrl: r.upstream_url,
    upstreamCredentialSet: r.upstream_credential !== null,
    tags: r.tags === null ? null : (JSON.parse(r.tags) as Record<string, string>),
    etag: r.etag,
    createdAt: toIso(r.created_at),
    updatedAt: toIso(r.updated_at),
  };
}

const notFound = (ref: RegistrationRef) =>
  new RegistrationError(
    "RegistrationNotFound",
    ref.subscriptionId === undefined
      ? `registration '${ref.name}' was not found.`
      : `registration '${ref.name}' was not found in resource group '${ref.resourceGroup}' of subscription '${ref.subscriptionId}'.`,
  );

/** Whether a stored registration is the one a request names (names and groups ignore case, as in ARM). */
function matches(r: RegistrationRow, ref: RegistrationRef): boolean {
  if (r.name_key !== ref.name.toLowerCase()) return false;
  if (ref.subscriptionId !== undefined && canonicalGuid(ref.subscriptionId) !== r.subscription_id)
    return false;
  if (ref.resourceGroup !== undefined && ref.resourceGroup.toLowerCase() !== r.resource_group.toLowerCase())
    return false;
  return true;
}

/** The registration a request names, or RegistrationNotFound. */
export async function requireRegistration(db: Kysely<DB>, ref: RegistrationRef): Promise<RegistrationRow> {
  const r = await findRegistration(db);
  if (!r || !matches(r, ref)) throw notFound(ref);
  return r;
}

/** The cloud's id: created with its first registration and kept for good, so that re-registering keeps record ids stable. */
async function cloudId(trx: Transaction<DB>): Promise<string> {
  await trx
    .insertInto("meta")
    .values({ key: CLOUD_ID_KEY, value: newGuid() })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
  return (
    await trx.selectFrom("meta").select("value").where("key", "=", CLOUD_ID_KEY).executeTakeFirstOrThrow()
  ).value;
}

function checkRules(deps: Deps, r: RegistrationRow): void {
  const issues = registrationProblems(
    {
      billingModel: r.billing_model,
      usageReportingEnabled: r.usage_reporting_enabled === 1,
      upstreamUrl: r.upstream_url,
      hasCredential: r.upstream_credential !== null,
    },
    deps.config.bridgeAllowHttp,
  );
  if (issues.length) {
    throw new DomainError("ValidationFailed", `${issues[0]!.field}: ${issues[0]!.reason}`, issues);
  }
}

function guidOf(field: string, s: string): string {
  const g = canonicalGuid(s);
  if (g === undefined)
    throw new DomainError("ValidationFailed", `${field}: must be a GUID`, [
      { field, reason: "must be a GUID" },
    ]);
  return g;
}

/** What the audit log says about a change: the properties, with the credential reduced to set/unset. */
function auditDetails(r: RegistrationRow, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    ...extra,
    name: r.name,
    billingModel: r.billing_model,
    defaultSubscriptionId: r.default_subscription_id,
    usageReportingEnabled: r.usage_reporting_enabled === 1,
    upstreamType: r.upstream_type,
    upstreamUrl: r.upstream_url,
    upstreamCredential: r.upstream_credential === null ? "unset" : "set",
  };
}

/**
 * Turning reporting on again starts with the current hour: windows that closed while it was off
 * are not forwarded (reference §7.2: a Capacity cloud that stops reporting reports nothing).
 */
async function resumeReporting(trx: Transaction<DB>, registrationId: string, now: number): Promise<number> {
  const state = await findBridgeState(trx, registrationId);
  const from = Math.max(Number(state?.forwarded_until ?? 0), floorHour(now));
  await trx
    .updateTable("bridge_state")
    .set({ forwarded_until: from, failures: 0, next_attempt_at: null })
    .where("registration_id", "=", registrationId)
    .execute();
  return from;
}

async function guardCapacity(trx: Transaction<DB>, r: RegistrationRow): Promise<void> {
  if (r.billing_model !== "Capacity") return;
  const n = await countCustomerSubscriptions(trx, r.object_id);
  if (n > 0) {
    throw new RegistrationError(
      "CustomerSubscriptionsNotAllowed",
      `a Capacity registration cannot have customer subscriptions; remove its ${n} customer subscription(s) first.`,
      { azureStatus: 409 },
    );
  }
}

/**
 * Creates the cloud's registration, or replaces the one at the same place (PUT semantics: omitted
 * properties take their defaults, except the credential, which is kept). A second registration
 * under another name or place is refused: a cloud has one.
 */
export async function putRegistration(
  deps: Deps,
  actor: Actor,
  at: { name: string; subscriptionId: string; resourceGroup: string },
  input: RegistrationInput,
  opts: { forwardFrom?: number; createOnly?: boolean } = {},
): Promise<{ registration: Registration; created: boolean }> {
  const now = deps.clock.now();
  const subscriptionId = canonicalGuid(at.subscriptionId);
  if (subscriptionId === undefined)
    throw new RegistrationError(
      "InvalidSubscriptionId",
      `the subscription id '${at.subscriptionId}' is not a GUID.`,
    );
  if (input.billingModel === undefined)
    throw new DomainError("ValidationFailed", "billingModel: is required", [
      { field: "billingModel", reason: "is required" },
    ]);
  if (opts.forwardFrom !== undefined && (opts.forwardFrom % HOUR !== 0 || opts.forwardFrom > now)) {
    throw new DomainError("ValidationFailed", "forwardFrom: must be a whole hour, not in the future", [
      { field: "forwardFrom", reason: "must be a whole hour, not in the future" },
    ]);
  }
  const defaultSubscriptionId =
    input.defaultSubscriptionId === undefined
      ? subscriptionId
      : guidOf("defaultSubscriptionId", input.defaultSubscriptionId);
  return deps.store.db.transaction().execute(async (trx) => {
    const existing = await findRegistration(trx);
    if (existing && (opts.createOnly || !matches(existing, { ...at, subscriptionId }))) {
      throw new RegistrationError(
        "RegistrationAlreadyExists",
        `this cloud is registered already as ${armId(existing)}; a cloud has one registration (delete it first to move it).`,
      );
    }
    const objectId = existing?.object_id ?? newGuid();
    const credential =
      input.upstreamCredential === undefined
        ? (existing?.upstream_credential ?? null)
        : input.upstreamCredential === null
          ? null
          : deps.secrets.seal(input.upstreamCredential, objectId);
    const row: RegistrationRow = {
      object_id: objectId,
      singleton: 1,
      name: existing?.name ?? at.name,
      name_key: at.name.toLowerCase(),
      subscription_id: subscriptionId,
      resource_group: existing?.resource_group ?? at.resourceGroup,
      cloud_id: existing?.cloud_id ?? (await cloudId(trx)),
      billing_model: input.billingModel!,
      default_subscription_id: defaultSubscriptionId,
      usage_reporting_enabled: (input.usageReportingEnabled ?? true) ? 1 : 0,
      upstream_type: input.upstreamType ?? "Tally",
      upstream_url: input.upstreamUrl ?? null,
      upstream_credential: credential,
      tags: input.tags ? JSON.stringify(input.tags) : null,
      etag: newGuid(),
      created_at: existing?.created_at ?? now,
      updated_at: now,
    };
    checkRules(deps, row);
    let extra: Record<string, unknown> = {};
    if (existing) {
      await guardCapacity(trx, row);
      const { object_id: _o, singleton: _s, ...changes } = row;
      await trx.updateTable("registrations").set(changes).where("object_id", "=", objectId).execute();
      if (existing.usage_reporting_enabled === 0 && row.usage_reporting_enabled === 1)
        extra = { forwardFrom: toIso(await resumeReporting(trx, objectId, now)) };
    } else {
      await trx.insertInto("registrations").values(row).execute();
      const from = opts.forwardFrom ?? floorHour(now);
      await trx
        .insertInto("bridge_state")
        .values({ registration_id: objectId, forwarded_until: from })
        .execute();
      extra = { forwardFrom: toIso(from) };
    }
    await appendAudit(trx, actor, now, {
      action: "registrations/write",
      target: `/registrations/${row.name}`,
      details: auditDetails(row, { op: existing ? "replace" : "create", ...extra }),
    });
    return { registration: toRegistration(row), created: !existing };
  });
}

/** Changes the given properties only. */
export async function patchRegistration(
  deps: Deps,
  actor: Actor,
  ref: RegistrationRef,
  input: RegistrationInput,
): Promise<Registration> {
  const now = deps.clock.now();
  const defaultSubscriptionId =
    input.defaultSubscriptionId === undefined
      ? undefined
      : guidOf("defaultSubscriptionId", input.defaultSubscriptionId);
  return deps.store.db.transaction().execute(async (trx) => {
    const existing = await requireRegistration(trx, ref);
    const row: RegistrationRow = {
      ...existing,
      billing_model: input.billingModel ?? existing.billing_model,
      default_subscription_id: defaultSubscriptionId ?? existing.default_subscription_id,
      usage_reporting_enabled:
        input.usageReportingEnabled === undefined
          ? existing.usage_reporting_enabled
          : input.usageReportingEnabled
            ? 1
            : 0,
      upstream_type: input.upstreamType ?? existing.upstream_type,
      upstream_url: input.upstreamUrl === undefined ? existing.upstream_url : input.upstreamUrl,
      upstream_credential:
        input.upstreamCredential === undefined
          ? existing.upstream_credential
          : input.upstreamCredential === null
            ? null
            : deps.secrets.seal(input.upstreamCredential, existing.object_id),
      tags:
        input.tags === undefined ? existing.tags : input.tags === null ? null : JSON.stringify(input.tags),
      etag: newGuid(),
      updated_at: now,
    };
    checkRules(deps, row);
    await guardCapacity(trx, row);
    const { object_id: _o, singleton: _s, ...changes } = row;
    await trx.updateTable("registrations").set(changes).where("object_id", "=", existing.object_id).execute();
    const extra: Record<string, unknown> = {
      changed: Object.keys(input).filter((k) => (input as Record<string, unknown>)[k] !== undefined),
    };
    if (existing.usage_reporting_enabled === 0 && row.usage_reporting_enabled === 1)
      extra.forwardFrom = toIso(await resumeReporting(trx, existing.object_id, now));
    await appendAudit(trx, actor, now, {
      action: "registrations/write",
      target: `/registrations/${row.name}`,
      details: auditDetails(row, { op: "update", ...extra }),
    });
    return toRegistration(row);
  });
}

export async function getRegistration(
  deps: Pick<Deps, "store">,
  ref: RegistrationRef,
): Promise<Registration> {
  return toRegistration(await requireRegistration(deps.store.db, ref));
}

/** The registrations at a place (the Azure list), or the cloud's one (native list). */
export async function listRegistrations(
  deps: Pick<Deps, "store">,
  at: { subscriptionId?: string; resourceGroup?: string } = {},
): Promise<Registration[]> {
  const r = await findRegistration(deps.store.db);
  if (!r) return [];
  if (at.subscriptionId !== undefined && canonicalGuid(at.subscriptionId) !== r.subscription_id) return [];
  if (at.resourceGroup !== undefined && at.resourceGroup.toLowerCase() !== r.resource_group.toLowerCase())
    return [];
  return [toRegistration(r)];
}

/**
 * Deletes the registration: forwarding stops, and batches built but not yet acknowledged are
 * dropped (the audit entry counts them). Answers false when there was nothing to delete.
 */
export async function deleteRegistration(deps: Deps, actor: Actor, ref: RegistrationRef): Promise<boolean> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const r = await findRegistration(trx);
    if (!r || !matches(r, ref)) return false;
    const state = await findBridgeState(trx, r.object_id);
    const queued = await queuedBatches(trx, r.object_id);
    const customers = await countCustomerSubscriptions(trx, r.object_id);
    await deleteRegistrationRows(trx, r.object_id);
    await appendAudit(trx, actor, now, {
      action: "registrations/delete",
      target: `/registrations/${r.name}`,
      details: {
        objectId: r.object_id,
        customerSubscriptions: customers,
        forwardedUntil: state ? toIso(Number(state.forwarded_until)) : null,
        droppedBatches: queued.length,
        droppedRecords: queued.reduce((n, b) => n + Number(b.records), 0),
      },
    });
    return true;
  });
}
