import { parse } from "csv-parse/sync";
import { Decimal } from "decimal.js";
import type { Principal } from "../src/auth/principal.js";
import type { BillingDocument, BillingDocumentSource } from "../src/billing/ports.js";
import type { Clock } from "../src/clock.js";
import type {
  BillingAccountView,
  EstimateView,
  InvoiceLine,
  InvoiceView,
} from "../src/domain/billing/types.js";
import { DomainError } from "../src/domain/errors.js";
import { type DialectName, openTestApp, type TestApp } from "./helpers.js";

/**
 * A stand-in for the billing core: fixture invoices and estimates over real usage. Subscriptions
 * are resolved to their internal keys in the database, as the core does; anything else is 404.
 */
export class FixtureSource implements BillingDocumentSource {
  chargesVisible = true;
  /** Which of the account's subscriptions the caller sees. */
  subscriptionIds: string[] = [];
  invoices = new Map<string, { doc: InvoiceView; reportedFrom: number; reportedTo: number }>();
  estimate: { doc: EstimateView; reportedFrom: number; reportedTo: number } | undefined;
  calls: { caller: string; accountId: string; what: string }[] = [];

  constructor(
    private readonly t: TestApp,
    readonly account: BillingAccountView,
  ) {}

  private async subscriptions() {
    if (this.subscriptionIds.length === 0) return [];
    const rows = await this.t.svc.store.db
      .selectFrom("subscriptions")
      .select(["seq", "id", "display_name"])
      .where("id", "in", this.subscriptionIds)
      .execute();
    return rows.map((r) => ({ seq: Number(r.seq), id: r.id, displayName: r.display_name }));
  }

  private async wrap<D>(d: D, from: number, to: number): Promise<BillingDocument<D>> {
    return {
      account: this.account,
      document: d,
      chargesVisible: this.chargesVisible,
      subscriptions: await this.subscriptions(),
      reportedFrom: from,
      reportedTo: to,
    };
  }

  async invoice(caller: Principal, accountId: string, invoiceId: string) {
    this.calls.push({ caller: caller.id, accountId, what: invoiceId });
    const inv = this.invoices.get(invoiceId);
    if (accountId !== this.account.id || !inv) throw new DomainError("NotFound", "no such invoice.");
    return this.wrap(inv.doc, inv.reportedFrom, inv.reportedTo);
  }

  async periodDocument(caller: Principal, accountId: string, period: string) {
    this.calls.push({ caller: caller.id, accountId, what: period });
    if (accountId !== this.account.id) throw new DomainError("NotFound", "no such billing account.");
    if (this.estimate && (period === "current" || period === this.estimate.doc.period))
      return this.wrap<InvoiceView | EstimateView>(
        this.estimate.doc,
        this.estimate.reportedFrom,
        this.estimate.reportedTo,
      );
    const inv = [...this.invoices.values()].find((i) => i.doc.period === period);
    if (!inv) throw new DomainError("NotFound", `no document for ${period}.`);
    return this.wrap<InvoiceView | EstimateView>(inv.doc, inv.reportedFrom, inv.reportedTo);
  }
}

export const ACCOUNT: BillingAccountView = {
  id: "ba_contoso",
  kind: "customer",
  displayName: "Contoso Ltd",
  currency: "EUR",
  taxRate: "19",
  issuerName: "Northwind Cloud GmbH",
  address: { line1: "1 Main Street", city: "Springfield", postalCode: "12345", country: "DE" },
  directoryId: null,
  providerId: null,
  createdAt: "2026-01-01T00:00:00.000Z",
};

export interface DownloadsApp extends TestApp {
  source: FixtureSource;
}

/**
 * The whole app, its download routes reading their documents from a fixture source (the billing
 * core's own routes, such as the invoice's JSON at the same URL without a suffix, stay as they are).
 */
export async function openDownloadsApp(dialect: DialectName, clock: Clock): Promise<DownloadsApp> {
  let source: FixtureSource | undefined;
  const proxy: BillingDocumentSource = {
    invoice: (c, a, i) => source!.invoice(c, a, i),
    periodDocument: (c, a, p) => source!.periodDocument(c, a, p),
  };
  const t = await openTestApp(dialect, { clock, app: { billingDocuments: proxy } });
  source = new FixtureSource(t, ACCOUNT);
  return { ...t, source };
}

/** A CSV file read back as arrays of fields. */
export function readCsv(text: string): string[][] {
  return parse(text, { bom: true, relax_column_count: true }) as string[][];
}

/** The two sections of a "version 2" file: each its title, header and rows. */
export function v2Sections(text: string) {
  const rows = readCsv(text);
  const daily = rows.findIndex((r) => r.length === 1 && r[0] === "Daily Usage");
  const statement = rows.slice(0, daily);
  if (statement.at(-1)?.length === 1 && statement.at(-1)![0] === "") statement.pop();
  return {
    statementTitle: statement[0],
    statementHeader: statement[1]!,
    statement: statement.slice(2),
    dailyTitle: rows[daily],
    dailyHeader: rows[daily + 1]!,
    daily: rows.slice(daily + 2),
  };
}

/** The text of every page of a PDF, as pdfjs-dist extracts it. */
export async function pdfText(data: Buffer): Promise<string[]> {
  const pdfjs = await import("pdfjs-dist/legacy/build/pdf.mjs");
  const doc = await pdfjs.getDocument({ data: new Uint8Array(data), disableFontFace: true, verbosity: 0 })
    .promise;
  const pages: string[] = [];
  for (let i = 1; i <= doc.numPages; i++) {
    const page = await doc.getPage(i);
    const content = await page.getTextContent();
    // Wrapped cells come back as pieces: one space between pieces, whatever the layout.
    pages.push(
      content.items
        .map((it) => ("str" in it ? it.str : ""))
        .join(" ")
        .replace(/\s+/g, " "),
    );
  }
  await doc.destroy();
  return pages;
}

const money = (d: Decimal) => d.toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN).toFixed(2);

export function makeLine(over: Partial<InvoiceLine> & Pick<InvoiceLine, "kind" | "amount">): InvoiceLine {
  return {
    lineNo: 0,
    description: over.kind,
    subscriptionId: null,
    subscriptionName: null,
    offerId: null,
    meterId: null,
    meterName: null,
    meterCategory: null,
    meterSubCategory: null,
    meterRegion: null,
    unit: null,
    priceSheetId: null,
    tier: null,
    quantity: null,
    listUnitPrice: null,
    unitPrice: null,
    usagePeriod: null,
    usageStart: null,
    usageEnd: null,
    departmentId: null,
    accountId: null,
    costCenter: null,
    ...over,
  };
}

/** An invoice over lines, numbered and totalled as the billing core would (tax rounded half-even). */
export function makeInvoice(
  over: Partial<InvoiceView> & Pick<InvoiceView, "id" | "period" | "periodStart" | "periodEnd" | "lines">,
): InvoiceView {
  const subtotal = over.lines.reduce((s, l) => s.plus(l.amount!), new Decimal(0));
  const tax = subtotal.mul(ACCOUNT.taxRate!).div(100);
  over.lines.forEach((l, i) => {
    l.lineNo = i + 1;
  });
  return {
    billingAccountId: ACCOUNT.id,
    number: null,
    issuerName: ACCOUNT.issuerName,
    status: "draft",
    currency: "EUR",
    subtotal: money(subtotal),
    taxRate: ACCOUNT.taxRate,
    tax: money(tax),
    total: money(subtotal.plus(new Decimal(money(tax)))),
    createdAt: "2026-12-02T00:00:00.000Z",
    finalizedAt: null,
    complete: true,
    ...over,
  };
}

export { money };
