import type { Metrics } from "../metrics.js";
import type { App } from "./types.js";

/** Records every answered request and serves the registry at `/metrics`. */
export function registerMetrics(app: App, metrics: Metrics): void {
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "(unmatched)";
    metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  app.get("/metrics", { config: { auth: "none" }, schema: { hide: true } }, async (_req, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
