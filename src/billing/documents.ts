import type { Principal } from "../auth/principal.js";
import { periodBounds } from "../domain/billing/invoice.js";
import type { EstimateView, InvoiceView } from "../domain/billing/types.js";
import { notFound } from "../domain/errors.js";
import { monthOf } from "../domain/time.js";
import type { Services } from "../services.js";
import { type Reach, reachAccount } from "./access.js";
import { toAccountView } from "./accounts.js";
import { estimate, getInvoice, parsePeriod } from "./invoices.js";
import type { BillingDocument, BillingDocumentSource } from "./ports.js";
import { invoiceOfPeriod } from "./repository.js";
import { subscriptionsOfAccount } from "./resolve.js";

/**
 * The billing core's side of the downloads' port: documents as the caller may see them (its part
 * of an enrollment, money or not), with the subscriptions and the reported window they cover.
 */
export function billingDocumentSource(svc: Services): BillingDocumentSource {
  const wrap = async <D>(
    reach: Reach,
    document: D,
    reportedFrom: number,
    reportedTo: number,
  ): Promise<BillingDocument<D>> => {
    const subs = await subscriptionsOfAccount(svc.store, reach.account, undefined, reach.parts);
    return {
      account: toAccountView(reach.account),
      document,
      chargesVisible: reach.chargesVisible,
      subscriptions: subs.map((s) => ({ seq: s.seq, id: s.id, displayName: s.displayName })),
      reportedFrom,
      reportedTo,
    };
  };

  return {
    async invoice(caller: Principal, accountId: string, invoiceId: string) {
      const reach = await reachAccount(svc, caller, accountId, "invoices/read", "billing/read");
      const doc = await getInvoice(svc, reach, invoiceId);
      const p = periodBounds(doc.period);
      return wrap<InvoiceView>(reach, doc, p.start, p.end);
    },

    async periodDocument(caller: Principal, accountId: string, period: string) {
      const now = svc.clock.now();
      const current = monthOf(now);
      const wanted = period === "current" ? current : parsePeriod(period);
      if (wanted === current) {
        const reach = await reachAccount(svc, caller, accountId, "billing/read", "billing/read");
        const doc = await estimate(svc, reach);
        // The usage file covers what the estimate does: usage reported before its `asOf`, not
        // whatever the rollup has reached by the time the file is written.
        return wrap<InvoiceView | EstimateView>(
          reach,
          doc,
          periodBounds(current).start,
          Date.parse(doc.asOf),
        );
      }
      const reach = await reachAccount(svc, caller, accountId, "invoices/read", "billing/read");
      const row = await invoiceOfPeriod(svc.store.db, accountId, wanted);
      if (!row) throw notFound("invoice of period", wanted);
      const doc = await getInvoice(svc, reach, row.id);
      const p = periodBounds(wanted);
      return wrap<InvoiceView | EstimateView>(reach, doc, p.start, p.end);
    },
  };
}
