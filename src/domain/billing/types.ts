/**
 * The billing documents' shapes, shared by the billing core (accounts, periods, estimates,
 * invoices) and the downloads rendered from them (invoice PDF and CSV, the "version 2" daily usage
 * file, the "usage and charges" file). Amounts and quantities are exact decimal strings (money in
 * the currency's minor units); times are ISO 8601 UTC; a billing period is a UTC calendar month
 * named `YYYY-MM`.
 */

export type BillingAccountKind = "customer" | "reseller" | "enrollment";

export interface BillingAddress {
  line1?: string;
  line2?: string;
  city?: string;
  region?: string;
  postalCode?: string;
  country?: string;
}

export interface BillingAccountView {
  id: string;
  kind: BillingAccountKind;
  displayName: string;
  currency: string;
  /** A percentage, e.g. `"19"` or `"7.25"`; null when the account is not taxed. */
  taxRate: string | null;
  /** Who issues the account's invoices (numbering is gap-free per issuer). */
  issuerName: string;
  address: BillingAddress | null;
  /** customer: the directory billed directly. */
  directoryId: string | null;
  /** reseller: the delegated provider billed for all its tenants' usage. */
  providerId: string | null;
  createdAt: string;
}

/**
 * What a line of an invoice (or of an estimate) charges for:
 * - `usage`: usage reported in the period with usage dates in the period;
 * - `priorPeriodUsage`: usage reported in the period with usage dates in an earlier period (late
 *   arrivals, DESIGN §3.7), carrying its own usage dates and usage period;
 * - `adjustment`: a correction of something already invoiced (e.g. a backdated price);
 * - the offer terms: `recurringCharge`, `commitmentDiscount`, `commitmentShortfall`, `credit`.
 * Taxes are not lines: they are the invoice's `tax`.
 */
export const INVOICE_LINE_KINDS = [
  "usage",
  "priorPeriodUsage",
  "adjustment",
  "recurringCharge",
  "commitmentDiscount",
  "commitmentShortfall",
  "credit",
] as const;

/** In this order within a subscription, meter and usage period on an invoice. */
export type InvoiceLineKind = (typeof INVOICE_LINE_KINDS)[number];

export interface InvoiceLine {
  /** 1-based, in the invoice's order: by subscription, then meter, then usage period, then kind. */
  lineNo: number;
  kind: InvoiceLineKind;
  description: string;
  subscriptionId: string | null;
  subscriptionName: string | null;
  offerId: string | null;
  meterId: string | null;
  meterName: string | null;
  meterCategory: string | null;
  meterSubCategory: string | null;
  meterRegion: string | null;
  unit: string | null;
  priceSheetId: string | null;
  /** The tier's start quantity, or `included`. */
  tier: string | null;
  quantity: string | null;
  /** Money fields are null when the caller may not see charges (`chargesHidden`). */
  listUnitPrice: string | null;
  unitPrice: string | null;
  amount: string | null;
  /** The billing period the usage belongs to (`YYYY-MM`); differs from the invoice's on prior-period lines. */
  usagePeriod: string | null;
  usageStart: string | null;
  usageEnd: string | null;
  /** Enterprise enrollments: where the subscription sits, for chargeback. */
  departmentId: string | null;
  accountId: string | null;
  costCenter: string | null;
}

export type InvoiceStatus = "draft" | "finalized";

export interface InvoiceView {
  id: string;
  billingAccountId: string;
  /** Gap-free per issuer, assigned on finalization; null while draft. */
  number: string | null;
  issuerName: string;
  /** `YYYY-MM`. */
  period: string;
  periodStart: string;
  periodEnd: string;
  status: InvoiceStatus;
  currency: string;
  /** Null, like every money field, when the caller may not see charges (`chargesHidden`). */
  subtotal: string | null;
  taxRate: string | null;
  tax: string | null;
  total: string | null;
  createdAt: string;
  finalizedAt: string | null;
  /** False when some usage had no price: it is listed in `unpriced` and left out of the amounts. */
  complete: boolean;
  lines: InvoiceLine[];
  /** Usage no price applied to (reported, never free). */
  unpriced?: UnpricedUsageView[];
  /** True when the caller may see quantities but not money: every money field is null. */
  chargesHidden?: boolean;
  /**
   * True when the caller sees only part of an enrollment (a department or account): lines of its
   * subscriptions, and totals of that part.
   */
  partial?: boolean;
}

export interface UnpricedUsageView {
  subscriptionId: string;
  meterId: string;
  quantity: string;
  reason: string;
  usagePeriod: string;
  usageStart: string;
  usageEnd: string;
}

/** The open period's charges so far: never an invoice, always marked as an estimate. */
export interface EstimateView {
  billingAccountId: string;
  period: string;
  periodStart: string;
  periodEnd: string;
  estimate: true;
  /** Usage reported (and rolled up) before this instant is included. */
  asOf: string;
  note: string;
  currency: string;
  subtotal: string | null;
  taxRate: string | null;
  tax: string | null;
  total: string | null;
  complete: boolean;
  lines: InvoiceLine[];
  unpriced?: UnpricedUsageView[];
  chargesHidden?: boolean;
  partial?: boolean;
}

/**
 * One row of the daily usage section of a usage file: one usage day × meter × resource instance
 * of one subscription, usage reported in the file's window.
 */
export interface DailyUsageRow {
  usageDate: string;
  subscriptionId: string;
  subscriptionName: string;
  meterId: string;
  meterName: string;
  meterCategory: string;
  meterSubCategory: string;
  meterRegion: string;
  unit: string;
  quantity: string;
  resourceUri: string;
  location: string | null;
  /** JSON text of the instance's tags, or null. */
  tags: string | null;
  /** JSON text of the instance's additionalInfo, or null. */
  additionalInfo: string | null;
}
