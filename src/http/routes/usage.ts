import { z } from "zod";
import { parseInstant } from "../../domain/time.js";
import type { Services } from "../../services.js";
import { queryUsage } from "../../usage/service.js";
import { commonErrors, guid, slug } from "../schemas.js";
import { usageScope } from "../scoping.js";
import type { App } from "../types.js";

const instant = z.string().transform((s, ctx) => {
  const t = parseInstant(s);
  if (typeof t === "string") {
    ctx.addIssue({ code: "custom", message: t });
    return z.NEVER;
  }
  return t;
});

const query = z.object({
  from: instant,
  to: instant,
  timeBasis: z.enum(["reported", "usage"]).default("reported"),
  granularity: z.enum(["hourly", "daily"]).default("hourly"),
  groupBy: z.enum(["instance", "meter", "subscription"]).default("instance"),
  subscriptionId: guid().optional(),
  meterId: z.string().max(64).optional(),
  directoryId: guid().optional(),
  providerId: slug.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
  cursor: z.string().min(1).max(512).optional(),
});

const item = z.object({
  subscriptionId: z.string(),
  meterId: z.string().nullable(),
  usageStartTime: z.string(),
  usageEndTime: z.string(),
  quantity: z.string(),
  instance: z
    .object({
      resourceUri: z.string(),
      location: z.string().nullable(),
      tags: z.record(z.string(), z.string()).nullable(),
      additionalInfo: z.unknown(),
    })
    .optional(),
});

const DESCRIPTION = `Usage in a window [from, to) of reported time (default; the window must be closed) or of usage
time, summed per usage hour or day, per instance (default), meter or subscription. Quantities are exact
decimal strings. \`closedUntil\` is the reported time up to which everything is final.`;

/** `GET /api/v1/usage`: the native usage query. */
export function registerUsage(app: App, svc: Services): void {
  app.get(
    "/api/v1/usage",
    {
      config: { action: "usage/read", access: "resource" },
      schema: {
        tags: ["usage"],
        description: DESCRIPTION,
        querystring: query,
        response: {
          200: z.object({ items: z.array(item), nextCursor: z.string().nullable(), closedUntil: z.string() }),
          ...commonErrors,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const scope = await usageScope(svc, req, {
        ...(q.subscriptionId !== undefined ? { subscriptionId: q.subscriptionId } : {}),
        ...(q.providerId !== undefined ? { providerId: q.providerId } : {}),
      });
      return queryUsage(svc, scope, {
        from: q.from,
        to: q.to,
        basis: q.timeBasis,
        granularity: q.granularity,
        groupBy: q.groupBy,
        limit: q.limit,
        ...(q.subscriptionId !== undefined ? { subscriptionId: q.subscriptionId } : {}),
        ...(q.meterId !== undefined ? { meterId: q.meterId } : {}),
        ...(q.directoryId !== undefined ? { directoryId: q.directoryId } : {}),
        ...(q.providerId !== undefined ? { providerId: q.providerId } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
    },
  );
}
