import { z } from "zod";
import type { Principal } from "../../auth/principal.js";
import { requireOnSubscription } from "../../auth/scoping.js";
import { reachAccount } from "../../billing/access.js";
import {
  assignSubscription,
  createAccount,
  createDepartment,
  createEnrollmentAccount,
  listAccounts,
  parseTaxRate,
  toAccountView,
  toDepartmentView,
  toEnrollmentAccountView,
  unassignSubscription,
  updateAccount,
} from "../../billing/accounts.js";
import { departmentRows, enrollmentAccountRows, findAccount } from "../../billing/repository.js";
import { accountOfSubscription, resolveAll, subscriptionsOfAccount } from "../../billing/resolve.js";
import { decodeCursor, toPage } from "../../domain/cursor.js";
import { parseScope, ROOT_CHAIN } from "../../domain/scope.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { withExactJson } from "../exact-json.js";
import { commonErrors, displayName, errorBody, guid, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";
import { decimal } from "./price-sheets.js";

const tags = ["billing"];

/** Billing ids come from commerce systems (`1234:5678_2019-05-31`): the scopes' shape. */
export const billingId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "must be 1-128 letters, digits, '.', '_', ':' or '-'");

const address = z.strictObject({
  line1: z.string().max(256).optional(),
  line2: z.string().max(256).optional(),
  city: z.string().max(128).optional(),
  region: z.string().max(128).optional(),
  postalCode: z.string().max(32).optional(),
  country: z.string().max(64).optional(),
});

export const accountSchema = z.object({
  id: z.string(),
  kind: z.enum(["customer", "reseller", "enrollment"]),
  displayName: z.string(),
  currency: z.string(),
  taxRate: z.string().nullable(),
  issuerName: z.string(),
  address: address.nullable(),
  directoryId: z.string().nullable(),
  providerId: z.string().nullable(),
  firstPeriod: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const department = z.object({
  id: z.string(),
  enrollmentId: z.string(),
  displayName: z.string(),
  costCenter: z.string().nullable(),
  createdAt: z.string(),
});
const enrollmentAccount = department.extend({ departmentId: z.string() });
const assignment = z.object({
  subscriptionId: z.string(),
  billingAccountId: z.string(),
  departmentId: z.string().nullable(),
  accountId: z.string().nullable(),
  createdAt: z.string(),
});
const billedSubscription = z.object({
  id: z.string(),
  displayName: z.string(),
  directoryId: z.string(),
  providerId: z.string(),
  offerId: z.string(),
  departmentId: z.string().nullable(),
  accountId: z.string().nullable(),
  costCenter: z.string().nullable(),
});

const taxRate = decimal.transform((v, ctx) => {
  const d = parseTaxRate(v);
  if (typeof d === "string") {
    ctx.addIssue({ code: "custom", message: d });
    return z.NEVER;
  }
  return d;
});
const costCenter = z.string().trim().min(1).max(64);
const params = z.object({ id: billingId });

/** The account ids the caller holds a role at (directly, or through an enrollment's departments and accounts). */
async function visibleAccountIds(svc: Services, p: Principal): Promise<string[] | "all"> {
  if (await svc.access.can(p, "billing/read", ROOT_CHAIN)) return "all";
  const ids = new Set<string>();
  for (const g of await svc.access.grantsOf(p)) {
    const s = parseScope(g.scope);
    if (typeof s === "string") continue;
    if (s.kind === "billingAccount") ids.add(s.billingAccountId);
    if (s.kind === "enrollment" || s.kind === "department" || s.kind === "account") ids.add(s.enrollmentId);
  }
  const out: string[] = [];
  for (const id of ids) {
    const a = await findAccount(svc.store.db, id);
    if (!a) continue;
    try {
      await reachAccount(svc, p, id, "billing/read", "billing/read");
      out.push(a.id);
    } catch {
      // not readable: not listed
    }
  }
  return out.sort();
}

/**
 * `/api/v1/billing-accounts`: who is invoiced (customers, resellers, enterprise enrollments), an
 * enrollment's departments and accounts, and which subscriptions each account bills. See
 * docs/billing.md.
 */
export function registerBillingAccounts(app: App, svc: Services): void {
  withExactJson(app, (scope) => {
    scope.post(
      "/api/v1/billing-accounts",
      {
        config: { action: "billing/write" },
        schema: {
          tags,
          description:
            "Creates a billing account (billing/write at `/`): a `customer` (`directoryId`), a `reseller` (`providerId`, a delegated provider) or an `enrollment` (its id is the enrollment id of the `/enrollments/{id}` scopes).",
          body: z.strictObject({
            id: billingId.optional(),
            kind: z.enum(["customer", "reseller", "enrollment"]),
            displayName,
            currency: z.string().min(3).max(3),
            taxRate: taxRate.optional(),
            issuerName: displayName.optional(),
            address: address.optional(),
            directoryId: guid().optional(),
            providerId: z.string().max(64).optional(),
            firstPeriod: z
              .string()
              .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be a month written YYYY-MM")
              .optional(),
          }),
          response: { 201: accountSchema, 409: errorBody, ...commonErrors },
        },
      },
      async (req, reply) => reply.status(201).send(await createAccount(svc, actorOf(req), req.body)),
    );

    scope.patch(
      "/api/v1/billing-accounts/:id",
      {
        config: { action: "billing/write", access: "resource" },
        schema: {
          tags,
          description:
            "Changes an account's settings; closed invoices keep the settings they were closed with.",
          params,
          body: z
            .strictObject({
              displayName: displayName.optional(),
              taxRate: taxRate.nullable().optional(),
              issuerName: displayName.optional(),
              address: address.nullable().optional(),
            })
            .refine((b) => Object.keys(b).length > 0, { message: "give at least one field to change" }),
          response: { 200: accountSchema, ...commonErrors },
        },
      },
      async (req) => {
        await reachAccount(svc, principalOf(req), req.params.id, "billing/write");
        return updateAccount(svc, actorOf(req), req.params.id, req.body);
      },
    );
  });

  app.get(
    "/api/v1/billing-accounts",
    {
      config: { action: "billing/read", access: "resource" },
      schema: {
        tags,
        description: "Lists the billing accounts the caller may read.",
        querystring: z.object({
          ...pageQuery,
          kind: z.enum(["customer", "reseller", "enrollment"]).optional(),
        }),
        response: { 200: page(accountSchema), ...commonErrors },
      },
    },
    async (req) => listAccounts(svc, req.query, await visibleAccountIds(svc, principalOf(req))),
  );

  app.get(
    "/api/v1/billing-accounts/:id",
    {
      config: { action: "billing/read", access: "resource" },
      schema: { tags, params, response: { 200: accountSchema, ...commonErrors } },
    },
    async (req) =>
      toAccountView(
        (await reachAccount(svc, principalOf(req), req.params.id, "billing/read", "billing/read")).account,
      ),
  );

  app.get(
    "/api/v1/billing-accounts/:id/departments",
    {
      config: { action: "billing/read", access: "resource" },
      schema: {
        tags,
        description: "An enrollment's departments (a department administrator sees its own).",
        params,
        response: { 200: page(department), ...commonErrors },
      },
    },
    async (req) => {
      const reach = await reachAccount(svc, principalOf(req), req.params.id, "billing/read", "billing/read");
      const rows = await departmentRows(svc.store.db, reach.account.id);
      return {
        items: rows
          .filter((d) => reach.parts === null || reach.parts.some((p) => p.departmentId === d.id))
          .map(toDepartmentView),
        nextCursor: null,
      };
    },
  );

  app.post(
    "/api/v1/billing-accounts/:id/departments",
    {
      config: { action: "billing/write", access: "resource" },
      schema: {
        tags,
        description: "Adds a department to an enrollment (billing/write on the enrollment).",
        params,
        body: z.strictObject({ id: billingId, displayName, costCenter: costCenter.optional() }),
        response: { 201: department, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      await reachAccount(svc, principalOf(req), req.params.id, "billing/write");
      return reply.status(201).send(await createDepartment(svc, actorOf(req), req.params.id, req.body));
    },
  );

  app.get(
    "/api/v1/billing-accounts/:id/enrollment-accounts",
    {
      config: { action: "billing/read", access: "resource" },
      schema: {
        tags,
        description:
          "An enrollment's accounts (a department administrator sees its department's, an account owner its own).",
        params,
        response: { 200: page(enrollmentAccount), ...commonErrors },
      },
    },
    async (req) => {
      const reach = await reachAccount(svc, principalOf(req), req.params.id, "billing/read", "billing/read");
      const rows = await enrollmentAccountRows(svc.store.db, reach.account.id, reach.parts);
      return {
        items: rows.map(toEnrollmentAccountView),
        nextCursor: null,
      };
    },
  );

  app.post(
    "/api/v1/billing-accounts/:id/enrollment-accounts",
    {
      config: { action: "billing/write", access: "resource" },
      schema: {
        tags,
        description: "Adds an account to a department of an enrollment (billing/write on the enrollment).",
        params,
        body: z.strictObject({
          id: billingId,
          departmentId: billingId,
          displayName,
          costCenter: costCenter.optional(),
        }),
        response: { 201: enrollmentAccount, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      await reachAccount(svc, principalOf(req), req.params.id, "billing/write");
      return reply
        .status(201)
        .send(await createEnrollmentAccount(svc, actorOf(req), req.params.id, req.body));
    },
  );

  app.get(
    "/api/v1/billing-accounts/:id/subscriptions",
    {
      config: { action: "billing/read", access: "resource" },
      schema: {
        tags,
        description:
          "The subscriptions the account bills now (explicitly assigned, or by the resolution rule).",
        params,
        querystring: z.object(pageQuery),
        response: { 200: page(billedSubscription), ...commonErrors },
      },
    },
    async (req) => {
      const reach = await reachAccount(svc, principalOf(req), req.params.id, "billing/read", "billing/read");
      const after = req.query.cursor ? decodeCursor(req.query.cursor, ["string"])[0] : "";
      const subs = (await subscriptionsOfAccount(svc.store, reach.account, undefined, reach.parts)).filter(
        (s) => s.id > after,
      );
      return toPage(
        subs.slice(0, req.query.limit + 1),
        req.query.limit,
        ({ seq: _s, ...s }) => s,
        (s) => [s.id],
      );
    },
  );

  const subParams = z.object({ id: billingId, subscriptionId: guid() });
  app.put(
    "/api/v1/billing-accounts/:id/subscriptions/:subscriptionId",
    {
      config: { action: "billing/write", access: "resource" },
      schema: {
        tags,
        description:
          "Assigns a subscription to the account explicitly (an enrollment needs `departmentId` and `accountId`); replaces any earlier assignment. Needs billing/write on the account and subscriptions/read on the subscription.",
        params: subParams,
        body: z
          .strictObject({ departmentId: billingId.optional(), accountId: billingId.optional() })
          .default({}),
        response: { 200: assignment, ...commonErrors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      await reachAccount(svc, p, req.params.id, "billing/write");
      await requireOnSubscription(svc, p, "subscriptions/read", req.params.subscriptionId);
      return assignSubscription(svc, actorOf(req), req.params.id, req.params.subscriptionId, req.body ?? {});
    },
  );

  app.delete(
    "/api/v1/billing-accounts/:id/subscriptions/:subscriptionId",
    {
      config: { action: "billing/write", access: "resource" },
      schema: {
        tags,
        description: "Removes an explicit assignment; the subscription falls back to the resolution rule.",
        params: subParams,
        response: { 204: z.null(), ...commonErrors },
      },
    },
    async (req, reply) => {
      await reachAccount(svc, principalOf(req), req.params.id, "billing/write");
      await unassignSubscription(svc, actorOf(req), req.params.id, req.params.subscriptionId);
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/api/v1/subscriptions/:id/billing-account",
    {
      config: { action: "subscriptions/read", access: "resource" },
      schema: {
        tags,
        description:
          "Which billing account bills the subscription and why: `assigned` (explicitly), `reseller` (the nearest delegated provider with a reseller account), `customer` (its directory's customer account), or `unbilled`.",
        params: z.object({ id: z.string().max(64) }),
        response: {
          200: z.object({
            subscriptionId: z.string(),
            reason: z.enum(["assigned", "reseller", "customer", "unbilled"]),
            billingAccountId: z.string().nullable(),
            departmentId: z.string().nullable(),
            accountId: z.string().nullable(),
          }),
          ...commonErrors,
        },
      },
    },
    async (req) => {
      const sub = await requireOnSubscription(svc, principalOf(req), "subscriptions/read", req.params.id);
      const r = await accountOfSubscription(svc.store.db, sub);
      return {
        subscriptionId: sub.id,
        reason: r?.reason ?? ("unbilled" as const),
        billingAccountId: r?.account.id ?? null,
        departmentId: r?.departmentId ?? null,
        accountId: r?.accountId ?? null,
      };
    },
  );

  app.get(
    "/api/v1/billing/unbilled-subscriptions",
    {
      config: { action: "billing/read" },
      schema: {
        tags,
        description:
          "Subscriptions no billing account bills (operator: billing/read at `/`). Never silently dropped.",
        querystring: z.object(pageQuery),
        response: { 200: page(billedSubscription), ...commonErrors },
      },
    },
    async (req) => {
      const after = req.query.cursor ? decodeCursor(req.query.cursor, ["string"])[0] : "";
      const { unbilled } = await resolveAll(svc.store.db);
      const rest = unbilled.filter((s) => s.id > after);
      return toPage(
        rest.slice(0, req.query.limit + 1),
        req.query.limit,
        ({ seq: _s, ...s }) => s,
        (s) => [s.id],
      );
    },
  );
}
