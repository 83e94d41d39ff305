import type { Principal } from "../auth/principal.js";
import type { BillingAccountView, EstimateView, InvoiceView } from "../domain/billing/types.js";

/**
 * What the downloads (invoice PDF and CSV, usage files) need from the billing core, which decides
 * access: a billing account or document outside the caller's reach is `NotFound`, one the caller
 * may see but not act on `Forbidden`. The core implements it; the download routes take it.
 */
export interface BillingDocumentSource {
  /** An invoice of an account the caller may read invoices of. */
  invoice(caller: Principal, accountId: string, invoiceId: string): Promise<BillingDocument<InvoiceView>>;
  /**
   * The usage document of a period: the invoice of a closed period (`YYYY-MM`), or the estimate of
   * the open one (`current`, or its `YYYY-MM`).
   */
  periodDocument(
    caller: Principal,
    accountId: string,
    period: string,
  ): Promise<BillingDocument<InvoiceView | EstimateView>>;
}

export interface BillingDocument<D> {
  account: BillingAccountView;
  document: D;
  /**
   * Whether the caller may see money (enrollment policies can hide charges from department
   * administrators and account owners: quantities stay visible, amounts and prices do not).
   */
  chargesVisible: boolean;
  /**
   * The subscriptions whose usage the document covers, as the caller may see them (a department
   * administrator sees only their department's), with their internal keys for usage queries.
   */
  subscriptions: readonly { seq: number; id: string; displayName: string }[];
  /** The reported-time window [from, to) of the usage the document covers (epoch ms, UTC). */
  reportedFrom: number;
  reportedTo: number;
}
