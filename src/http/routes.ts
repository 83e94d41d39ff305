import type { Services } from "../services.js";
import { registerDirectories } from "./routes/directories.js";
import { registerHealth } from "./routes/health.js";
import { registerMeters } from "./routes/meters.js";
import { registerProviders } from "./routes/providers.js";
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
}
