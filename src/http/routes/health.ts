import { sql } from "kysely";
import { z } from "zod";
import type { Services } from "../../services.js";
import { isMigrated } from "../../storage/migrate.js";
import type { App } from "../types.js";

const status = z.object({ status: z.enum(["ok", "unavailable"]), reason: z.string().optional() });

/** `/healthz`: the process is alive. `/readyz`: the database answers and has every migration. */
export function registerHealth(app: App, svc: Services): void {
  app.get(
    "/healthz",
    { config: { auth: "none" }, schema: { tags: ["health"], response: { 200: status } } },
    async () => ({
      status: "ok" as const,
    }),
  );

  let migrated = false;
  app.get(
    "/readyz",
    { config: { auth: "none" }, schema: { tags: ["health"], response: { 200: status, 503: status } } },
    async (req, reply) => {
      try {
        await sql`select 1`.execute(svc.store.db);
        migrated ||= await isMigrated(svc.store);
        if (!migrated) return reply.status(503).send({ status: "unavailable", reason: "migrations pending" });
        return { status: "ok" as const };
      } catch (err) {
        req.log.warn({ err }, "readiness check failed");
        return reply.status(503).send({ status: "unavailable", reason: "database unreachable" });
      }
    },
  );
}
