import { billingDocumentSource } from "../billing/documents.js";
import type { BillingDocumentSource } from "../billing/ports.js";
import type { Services } from "../services.js";
import { registerAuditLog } from "./routes/audit-log.js";
import { registerAzureRegistrations } from "./routes/azure-registrations.js";
import { registerAzureUsage } from "./routes/azure-usage.js";
import { registerBillingAccounts } from "./routes/billing-accounts.js";
import { registerBillingDownloads } from "./routes/billing-downloads.js";
import { registerBillingInvoices } from "./routes/billing-invoices.js";
import { registerBridge } from "./routes/bridge.js";
import { registerDirectories } from "./routes/directories.js";
import { registerEnrollmentPolicies } from "./routes/enrollment-policies.js";
import { registerHealth } from "./routes/health.js";
import { registerJwks } from "./routes/jwks.js";
import { registerMarkups } from "./routes/markups.js";
import { registerMeters } from "./routes/meters.js";
import { registerOffers } from "./routes/offers.js";
import { registerPriceSheetCsv } from "./routes/price-sheet-csv.js";
import { registerPriceSheets } from "./routes/price-sheets.js";
import { registerProviders } from "./routes/providers.js";
import { registerRate } from "./routes/rate.js";
import { registerRateCard } from "./routes/rate-card.js";
import { registerRegistrations } from "./routes/registrations.js";
import { registerRoleAssignments } from "./routes/role-assignments.js";
import { registerRoleDefinitions } from "./routes/role-definitions.js";
import { registerSources } from "./routes/sources.js";
import { registerSubscriptions } from "./routes/subscriptions.js";
import { registerUsage } from "./routes/usage.js";
import { registerUsageImports } from "./routes/usage-imports.js";
import { registerUsageRecords } from "./routes/usage-records.js";
import type { App } from "./types.js";

/** Every route of the server, in one list. */
export function registerRoutes(
  app: App,
  svc: Services,
  billingDocuments: BillingDocumentSource = billingDocumentSource(svc),
): void {
  registerHealth(app, svc);
  registerDirectories(app, svc);
  registerProviders(app, svc);
  registerSubscriptions(app, svc);
  registerSources(app, svc);
  registerMeters(app, svc);
  registerUsageRecords(app, svc);
  registerUsage(app, svc);
  registerUsageImports(app, svc);
  registerJwks(app, svc);
  registerRoleAssignments(app, svc);
  registerRoleDefinitions(app);
  registerEnrollmentPolicies(app, svc);
  registerAuditLog(app, svc);
  registerOffers(app, svc);
  registerPriceSheets(app, svc);
  registerPriceSheetCsv(app, svc);
  registerMarkups(app, svc);
  registerRate(app, svc);
  registerRateCard(app, svc);
  registerRegistrations(app, svc);
  registerAzureRegistrations(app, svc);
  registerBridge(app, svc);
  registerBillingAccounts(app, svc);
  registerBillingInvoices(app, svc);
  registerBillingDownloads(app, svc, billingDocuments);
  registerAzureUsage(app, svc);
}
