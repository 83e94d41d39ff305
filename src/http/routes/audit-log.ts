import { z } from "zod";
import { listAuditLog } from "../../audit/service.js";
import { parseInstant } from "../../domain/time.js";
import type { Services } from "../../services.js";
import { commonErrors, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";

const entry = z.object({
  seq: z.number(),
  at: z.string(),
  principalId: z.string(),
  action: z.string(),
  target: z.string(),
  requestId: z.string(),
  details: z.record(z.string(), z.unknown()).nullable(),
});

const instant = z.string().transform((s, ctx) => {
  const t = parseInstant(s);
  if (typeof t === "string") {
    ctx.addIssue({ code: "custom", message: t });
    return z.NEVER;
  }
  return t;
});

const listQuery = z.object({
  ...pageQuery,
  principalId: z.string().min(1).max(256).optional(),
  action: z.string().min(1).max(128).optional(),
  target: z.string().min(1).max(512).optional(),
  from: instant.optional(),
  to: instant.optional(),
});

/**
 * `/api/v1/audit-log`: every change, newest first, for operators (audit/read at `/`). Read-only:
 * no route changes or removes entries, and the database refuses to as well.
 */
export function registerAuditLog(app: App, svc: Services): void {
  app.get(
    "/api/v1/audit-log",
    {
      config: { action: "audit/read" },
      schema: {
        tags: ["audit"],
        description:
          "Filters: `principalId`, `action` (exact), `target` (prefix, e.g. `/subscriptions/`), `from` (inclusive) and `to` (exclusive) ISO 8601 instants.",
        querystring: listQuery,
        response: { 200: page(entry), ...commonErrors },
      },
    },
    async (req) => {
      const { target, ...q } = req.query;
      return listAuditLog(svc, { ...q, ...(target === undefined ? {} : { targetPrefix: target }) });
    },
  );
}
