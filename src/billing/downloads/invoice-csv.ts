import type { InvoiceLine, InvoiceView } from "../../domain/billing/types.js";
import type { BillingDocument } from "../ports.js";
import type { CsvRecord } from "./csv.js";

/** Every field of an invoice line, in the type's order: the invoice CSV's line columns. */
export const INVOICE_LINE_FIELDS = [
  "lineNo",
  "kind",
  "description",
  "subscriptionId",
  "subscriptionName",
  "offerId",
  "meterId",
  "meterName",
  "meterCategory",
  "meterSubCategory",
  "meterRegion",
  "unit",
  "priceSheetId",
  "tier",
  "quantity",
  "listUnitPrice",
  "unitPrice",
  "amount",
  "usagePeriod",
  "usageStart",
  "usageEnd",
  "departmentId",
  "accountId",
  "costCenter",
] as const satisfies readonly (keyof InvoiceLine)[];

/** The invoice each row belongs to, so that files of several invoices can be concatenated. */
export const INVOICE_FIELDS = ["invoiceId", "invoiceNumber", "invoiceStatus", "period", "currency"] as const;

export const INVOICE_CSV_COLUMNS = [...INVOICE_FIELDS, ...INVOICE_LINE_FIELDS] as const;

const MONEY: ReadonlySet<string> = new Set(["listUnitPrice", "unitPrice", "amount"]);

/** The invoice as CSV: a header and one row per line; money columns empty when charges are hidden. */
export function invoiceCsvRecords(doc: BillingDocument<InvoiceView>): CsvRecord[] {
  const inv = doc.document;
  const head = [inv.id, inv.number ?? "", inv.status, inv.period, inv.currency];
  return [
    INVOICE_CSV_COLUMNS,
    ...inv.lines.map((l) => [
      ...head,
      ...INVOICE_LINE_FIELDS.map((f) => {
        if (!doc.chargesVisible && MONEY.has(f)) return "";
        const v = l[f];
        return v === null ? "" : String(v);
      }),
    ]),
  ];
}
