import { z } from "zod";
import { reachAccount } from "../../billing/access.js";
import {
  closePeriod,
  discardInvoice,
  estimate,
  finalizeInvoice,
  getInvoice,
  listInvoices,
  listPeriods,
  parsePeriod,
} from "../../billing/invoices.js";
import { INVOICE_LINE_KINDS } from "../../domain/billing/types.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { commonErrors, errorBody, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";
import { billingId } from "./billing-accounts.js";

const tags = ["billing"];
const money = z.string().nullable();

const line = z.object({
  lineNo: z.number(),
  kind: z.enum(INVOICE_LINE_KINDS),
  description: z.string(),
  subscriptionId: z.string().nullable(),
  subscriptionName: z.string().nullable(),
  offerId: z.string().nullable(),
  meterId: z.string().nullable(),
  meterName: z.string().nullable(),
  meterCategory: z.string().nullable(),
  meterSubCategory: z.string().nullable(),
  meterRegion: z.string().nullable(),
  unit: z.string().nullable(),
  priceSheetId: z.string().nullable(),
  tier: z.string().nullable(),
  quantity: z.string().nullable(),
  listUnitPrice: money,
  unitPrice: money,
  amount: money,
  usagePeriod: z.string().nullable(),
  usageStart: z.string().nullable(),
  usageEnd: z.string().nullable(),
  departmentId: z.string().nullable(),
  accountId: z.string().nullable(),
  costCenter: z.string().nullable(),
});

const unpriced = z.object({
  subscriptionId: z.string(),
  meterId: z.string(),
  quantity: z.string(),
  reason: z.string(),
  usagePeriod: z.string(),
  usageStart: z.string(),
  usageEnd: z.string(),
});

const shared = {
  currency: z.string(),
  subtotal: money,
  taxRate: z.string().nullable(),
  tax: money,
  total: money,
  complete: z.boolean(),
  lines: z.array(line),
  unpriced: z.array(unpriced).optional(),
  chargesHidden: z.boolean().optional(),
  partial: z.boolean().optional(),
};

export const invoiceSchema = z.object({
  id: z.string(),
  billingAccountId: z.string(),
  number: z.string().nullable(),
  issuerName: z.string(),
  period: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  status: z.enum(["draft", "finalized"]),
  createdAt: z.string(),
  finalizedAt: z.string().nullable(),
  ...shared,
});

const estimateSchema = z.object({
  billingAccountId: z.string(),
  period: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  estimate: z.literal(true),
  asOf: z.string(),
  note: z.string(),
  ...shared,
});

const periodSchema = z.object({
  period: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  status: z.enum(["open", "closable", "draft", "finalized"]),
  invoiceId: z.string().nullable(),
});

const params = z.object({ id: billingId });
const invoiceParams = z.object({ id: billingId, invoiceId: z.string().min(1).max(64) });

/**
 * A billing account's periods, estimate and invoices: closing a period into a draft, reviewing,
 * discarding and finalizing it. See docs/billing.md.
 */
export function registerBillingInvoices(app: App, svc: Services): void {
  app.get(
    "/api/v1/billing-accounts/:id/periods",
    {
      config: { action: "billing/read", access: "resource" },
      schema: {
        tags,
        description:
          "The open period and the last six closed ones, newest first (`all=true`: every period since the account's first), each with its status and invoice.",
        params,
        querystring: z.object({ all: z.enum(["true", "false"]).default("false") }),
        response: { 200: page(periodSchema), ...commonErrors },
      },
    },
    async (req) => {
      const reach = await reachAccount(svc, principalOf(req), req.params.id, "billing/read", "billing/read");
      return { items: await listPeriods(svc, reach.account, req.query.all === "true"), nextCursor: null };
    },
  );

  app.get(
    "/api/v1/billing-accounts/:id/estimate",
    {
      config: { action: "billing/read", access: "resource" },
      schema: {
        tags,
        description:
          "The open period's charges so far (usage reported and rolled up until `asOf`), computed like a close: an estimate, the final invoice may differ.",
        params,
        response: { 200: estimateSchema, ...commonErrors },
      },
    },
    async (req) =>
      estimate(svc, await reachAccount(svc, principalOf(req), req.params.id, "billing/read", "billing/read")),
  );

  app.post(
    "/api/v1/billing-accounts/:id/periods/:period/close",
    {
      config: { action: "billing/write", access: "resource" },
      schema: {
        tags,
        description:
          "Closes a period into a draft invoice (201), once it ended more than TALLY_BILLING_CLOSE_GRACE ago and its usage is rolled up; 409 with the reason otherwise. Idempotent: a period already closed answers its invoice unchanged (200).",
        params: z.object({ id: billingId, period: z.string().max(16) }),
        response: { 200: invoiceSchema, 201: invoiceSchema, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const period = parsePeriod(req.params.period);
      const reach = await reachAccount(svc, principalOf(req), req.params.id, "billing/write");
      const { invoice, created } = await closePeriod(svc, actorOf(req), reach.account, period);
      return reply.status(created ? 201 : 200).send(await getInvoice(svc, reach, invoice.id));
    },
  );

  app.get(
    "/api/v1/billing-accounts/:id/invoices",
    {
      config: { action: "invoices/read", access: "resource" },
      schema: {
        tags,
        description: "The account's invoices, newest period first, with their lines.",
        params,
        querystring: z.object({ ...pageQuery, status: z.enum(["draft", "finalized"]).optional() }),
        response: { 200: page(invoiceSchema), ...commonErrors },
      },
    },
    async (req) =>
      listInvoices(
        svc,
        await reachAccount(svc, principalOf(req), req.params.id, "invoices/read", "billing/read"),
        req.query,
      ),
  );

  app.get(
    "/api/v1/billing-accounts/:id/invoices/:invoiceId",
    {
      config: { action: "invoices/read", access: "resource" },
      schema: { tags, params: invoiceParams, response: { 200: invoiceSchema, ...commonErrors } },
    },
    async (req) =>
      getInvoice(
        svc,
        await reachAccount(svc, principalOf(req), req.params.id, "invoices/read", "billing/read"),
        req.params.invoiceId,
      ),
  );

  app.post(
    "/api/v1/billing-accounts/:id/invoices/:invoiceId/finalize",
    {
      config: { action: "invoices/write", access: "resource" },
      schema: {
        tags,
        description:
          "Finalizes a draft: numbers it gap-free per issuer and freezes it. Idempotent: a finalized invoice is answered unchanged.",
        params: invoiceParams,
        response: { 200: invoiceSchema, ...commonErrors },
      },
    },
    async (req) => {
      const reach = await reachAccount(svc, principalOf(req), req.params.id, "invoices/write");
      await finalizeInvoice(svc, actorOf(req), reach.account.id, req.params.invoiceId);
      return getInvoice(svc, reach, req.params.invoiceId);
    },
  );

  app.delete(
    "/api/v1/billing-accounts/:id/invoices/:invoiceId",
    {
      config: { action: "billing/write", access: "resource" },
      schema: {
        tags,
        description:
          "Discards a draft (the account's latest invoice) so that a new close recomputes it; 409 for a finalized invoice.",
        params: invoiceParams,
        response: { 204: z.null(), 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const reach = await reachAccount(svc, principalOf(req), req.params.id, "billing/write");
      await discardInvoice(svc, actorOf(req), reach.account.id, req.params.invoiceId);
      return reply.status(204).send(null);
    },
  );
}
