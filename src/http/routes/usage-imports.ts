import { z } from "zod";
import { decodeCursor, toPage } from "../../domain/cursor.js";
import { importHistory, importHorizon } from "../../ingest/import.js";
import type { Services } from "../../services.js";
import { readUsageClock } from "../../usage/clock.js";
import { closedUntil } from "../../usage/service.js";
import { actorOf } from "../auth.js";
import { parseBatchBody, withBatchBodies } from "../batch-body.js";
import { commonErrors, errorBody, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";

const DESCRIPTION = `Imports historical usage records that carry their own \`reportedTime\` (and optionally a
\`sourceId\`; default: the built-in \`import\` source), with the same validation and exactly-once rules as
live ingest. Imported reported times must lie before the import horizon: before every reported hour
that is not closed yet, before the first live record, and before any reported time a query has answered.`;

const importItem = z.object({
  id: z.string(),
  createdAt: z.string(),
  principalId: z.string(),
  inserted: z.number(),
  duplicates: z.number(),
  reportedFrom: z.string().nullable(),
  reportedTo: z.string().nullable(),
});

/** `/api/v1/usage-imports`: history import (operators). */
export function registerUsageImports(app: App, svc: Services): void {
  withBatchBodies(app, svc, (scope) => {
    scope.post(
      "/api/v1/usage-imports",
      {
        bodyLimit: svc.config.ingestMaxBytes,
        config: { action: "usage/import" },
        schema: {
          tags: ["usage"],
          description: DESCRIPTION,
          response: {
            201: z.object({ importId: z.string(), inserted: z.number(), duplicates: z.number() }),
            409: errorBody,
            413: errorBody,
            415: errorBody,
            ...commonErrors,
          },
        },
      },
      async (req, reply) =>
        reply.status(201).send(await importHistory(svc, actorOf(req), parseBatchBody(req))),
    );
  });

  app.get(
    "/api/v1/usage-imports/horizon",
    {
      config: { action: "usage/import" },
      schema: {
        tags: ["usage"],
        description:
          "The reported time before which history may be imported now, and why (the earliest of: the first reported hour not closed yet, the first hour with live usage, the earliest reported time a query has answered).",
        response: {
          200: z.object({
            importBefore: z.string(),
            reason: z.string(),
            closedUntil: z.string(),
            firstLiveAt: z.string().nullable(),
            answeredFrom: z.string().nullable(),
          }),
          ...commonErrors,
        },
      },
    },
    async () => {
      await closedUntil(svc, Number.MAX_SAFE_INTEGER);
      const c = await readUsageClock(svc.store.db);
      const h = importHorizon(c);
      const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
      return {
        importBefore: iso(h.at)!,
        reason: h.why,
        closedUntil: iso(c.closedUntil)!,
        firstLiveAt: iso(c.firstLiveAt),
        answeredFrom: iso(c.answeredFrom),
      };
    },
  );

  app.get(
    "/api/v1/usage-imports",
    {
      config: { action: "usage/import" },
      schema: {
        tags: ["usage"],
        querystring: z.object(pageQuery),
        response: { 200: page(importItem), ...commonErrors },
      },
    },
    async (req) => {
      const after =
        req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor, ["number", "string"]);
      let q = svc.store.db
        .selectFrom("usage_imports")
        .selectAll()
        .orderBy("created_at", "desc")
        .orderBy("id", "desc")
        .limit(req.query.limit + 1);
      if (after) {
        q = q.where((eb) =>
          eb.or([
            eb("created_at", "<", after[0]),
            eb.and([eb("created_at", "=", after[0]), eb("id", "<", after[1])]),
          ]),
        );
      }
      const rows = await q.execute();
      const iso = (t: number | null) => (t === null ? null : new Date(Number(t)).toISOString());
      return toPage(
        rows,
        req.query.limit,
        (r) => ({
          id: r.id,
          createdAt: iso(r.created_at)!,
          principalId: r.principal_id,
          inserted: Number(r.inserted),
          duplicates: Number(r.duplicates),
          reportedFrom: iso(r.min_reported_at),
          reportedTo: iso(r.max_reported_at),
        }),
        (r) => [Number(r.created_at), r.id],
      );
    },
  );
}
