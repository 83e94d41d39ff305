import type { Readable } from "node:stream";
import { z } from "zod";
import { chargesRecords } from "../../billing/downloads/charges.js";
import { csvBody } from "../../billing/downloads/csv.js";
import { fileSafe, isInvoice } from "../../billing/downloads/document.js";
import { invoiceCsvRecords } from "../../billing/downloads/invoice-csv.js";
import { invoicePdf } from "../../billing/downloads/invoice-pdf.js";
import { v2Records } from "../../billing/downloads/v2.js";
import type { BillingDocumentSource } from "../../billing/ports.js";
import type { Services } from "../../services.js";
import { principalOf } from "../auth.js";
import { commonErrors } from "../schemas.js";
import type { App } from "../types.js";

const accountParams = z.object({ accountId: z.string().min(1).max(128) });
const invoiceParams = accountParams.extend({ invoiceId: z.string().min(1).max(128) });

const usageQuery = z.object({
  period: z
    .string()
    .regex(/^(?:\d{4}-(?:0[1-9]|1[0-2])|current)$/, "must be a billing period YYYY-MM, or current")
    .default("current"),
  format: z.enum(["v2", "charges"]).default("v2"),
});

/** Invoice ids (`inv_…`) have no dots, so `…/{id}.pdf` never shadows the invoice itself. */
const INVOICE_ID = "(^[A-Za-z0-9_-]+)";
const tags = ["billing"];
const CSV = "text/csv; charset=utf-8";

const attachment = (name: string) => `attachment; filename="${name}"`;

/**
 * A streamed body, typed as the string the 200 schema documents: Fastify pipes a stream as it is
 * (with backpressure) and never runs it through the response serializer.
 */
const body = (s: Readable) => s as unknown as string;

const USAGE_DESCRIPTION = `The usage of a billing period as a file to download, streamed (any size, constant memory):
\`format=v2\` (default) is Azure's "version 2" daily usage file — a \`Statement\` section (one row per usage
period × meter) and a \`Daily Usage\` section (one row per usage day × meter × resource instance); \`format=charges\`
is the "usage and charges" file, one priced row per usage day × meter × instance plus one per offer term, whose
\`Cost\` column adds up exactly to the document's amounts. \`period\` is a closed period (its invoice) or the open
one (\`current\` or its \`YYYY-MM\`: the estimate so far). Usage is the usage *reported* in the period; late usage
carries its own usage date. Money columns are empty when the caller may not see charges. Layout and columns:
docs/billing-downloads.md.`;

/**
 * The billing downloads (issue 7, item 5): the usage files of a period and an invoice as PDF or
 * CSV. The billing core behind `source` decides who may see which document.
 */
export function registerBillingDownloads(app: App, svc: Services, source: BillingDocumentSource): void {
  app.get(
    "/api/v1/billing-accounts/:accountId/usage-download",
    {
      config: { action: "billing/read", access: "resource" },
      schema: {
        tags,
        description: USAGE_DESCRIPTION,
        params: accountParams,
        querystring: usageQuery,
        produces: ["text/csv"],
        response: { 200: z.string().describe("CSV"), ...commonErrors },
      },
    },
    async (req, reply) => {
      const { accountId } = req.params;
      const doc = await source.periodDocument(principalOf(req), accountId, req.query.period);
      const kind = isInvoice(doc.document) ? "invoice" : "estimate";
      const name =
        req.query.format === "v2"
          ? `usage-v2-${fileSafe(accountId)}-${doc.document.period}-${kind}.csv`
          : `usage-and-charges-${fileSafe(accountId)}-${doc.document.period}-${kind}.csv`;
      const records = req.query.format === "v2" ? v2Records(svc.store, doc) : chargesRecords(svc.store, doc);
      return reply
        .type(CSV)
        .header("content-disposition", attachment(name))
        .send(body(csvBody(records)));
    },
  );

  app.get(
    `/api/v1/billing-accounts/:accountId/invoices/:invoiceId${INVOICE_ID}.pdf`,
    {
      config: { action: "invoices/read", access: "resource" },
      schema: {
        tags,
        description:
          "The invoice as a PDF: issuer, account, number and status (a draft says DRAFT), period, lines by subscription and meter, subtotal, tax and total.",
        params: invoiceParams,
        produces: ["application/pdf"],
        response: { 200: z.string().describe("PDF"), ...commonErrors },
      },
    },
    async (req, reply) => {
      const { accountId, invoiceId } = req.params;
      const doc = await source.invoice(principalOf(req), accountId, invoiceId);
      const name = `invoice-${fileSafe(doc.document.number ?? doc.document.id)}.pdf`;
      return reply
        .type("application/pdf")
        .header("content-disposition", attachment(name))
        .send(body(invoicePdf(doc, new Date(svc.clock.now()))));
    },
  );

  app.get(
    `/api/v1/billing-accounts/:accountId/invoices/:invoiceId${INVOICE_ID}.csv`,
    {
      config: { action: "invoices/read", access: "resource" },
      schema: {
        tags,
        description:
          "The invoice as CSV: one row per line with every line field (and the invoice's id, number, status, period and currency); amounts are decimal strings.",
        params: invoiceParams,
        produces: ["text/csv"],
        response: { 200: z.string().describe("CSV"), ...commonErrors },
      },
    },
    async (req, reply) => {
      const { accountId, invoiceId } = req.params;
      const doc = await source.invoice(principalOf(req), accountId, invoiceId);
      const name = `invoice-${fileSafe(doc.document.number ?? doc.document.id)}.csv`;
      return reply
        .type(CSV)
        .header("content-disposition", attachment(name))
        .send(body(csvBody([invoiceCsvRecords(doc)])));
    },
  );
}
