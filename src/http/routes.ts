import type { Services } from "../services.js";
import { registerAuditLog } from "./routes/audit-log.js";
import { registerAzureUsage } from "./routes/azure-usage.js";
import { registerDirectories } from "./routes/directories.js";
import { registerEnrollmentPolicies } from "./routes/enrollment-policies.js";
import { registerHealth } from "./routes/health.js";
import { registerJwks } from "./routes/jwks.js";
import { registerMeters } from "./routes/meters.js";
import { registerProviders } from "./routes/providers.js";
import { registerRoleAssignments } from "./routes/role-assignments.js";
import { registerRoleDefinitions } from "./routes/role-definitions.js";
import { registerSources } from "./routes/sources.js";
import { registerSubscriptions } from "./routes/subscriptions.js";
import { registerUsage } from "./routes/usage.js";
import { registerUsageImports } from "./routes/usage-imports.js";
import { registerUsageRecords } from "./routes/usage-records.js";
import type { App } from "./types.js";

/** Every route of the server, in one list. */
export function registerRoutes(app: App, svc: Services): void {
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
  registerAzureUsage(app, svc);
}
