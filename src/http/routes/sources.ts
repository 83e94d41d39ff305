import { z } from "zod";
import { parseDuration } from "../../domain/time.js";
import type { Services } from "../../services.js";
import {
  createSource,
  deleteSource,
  getSource,
  listSources,
  revokeSourceKeys,
  rotateSourceKey,
  SOURCE_NAME,
} from "../../sources/service.js";
import { actorOf } from "../auth.js";
import { commonErrors, errorBody, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";

const KINDS = ["provider", "bridge"] as const;
const source = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(KINDS),
  createdAt: z.string(),
  updatedAt: z.string(),
  disabledAt: z.string().nullable(),
});
const key = z.object({
  id: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
const name = z
  .string()
  .regex(SOURCE_NAME, "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
const params = z.object({ id: z.string().min(1).max(64) });
const grace = z
  .string()
  .refine((s) => parseDuration(s) !== undefined, { message: "must be a duration such as 0s, 15m or 24h" })
  .transform((s) => parseDuration(s)!);
const tags = ["sources"];

/** `/api/v1/sources`: resource providers that report usage, and their API keys. */
export function registerSources(app: App, svc: Services): void {
  app.post(
    "/api/v1/sources",
    {
      config: { action: "sources/write" },
      schema: {
        tags,
        description:
          "Registers a resource provider (`kind: provider`, the default) or another cloud's usage bridge (`kind: bridge`, whose records may name the cloud's own subscription in `resourceUri`). The answer carries its API key; tally shows it only this once.",
        body: z.strictObject({ name, kind: z.enum(KINDS).optional() }),
        response: { 201: source.extend({ apiKey: z.string() }), 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => reply.status(201).send(await createSource(svc, actorOf(req), req.body)),
  );

  app.get(
    "/api/v1/sources",
    {
      config: { action: "sources/read" },
      schema: {
        tags,
        querystring: z.object({ ...pageQuery, includeDisabled: z.stringbool().optional() }),
        response: { 200: page(source), ...commonErrors },
      },
    },
    async (req) => listSources(svc, req.query),
  );

  app.get(
    "/api/v1/sources/:id",
    {
      config: { action: "sources/read" },
      schema: { tags, params, response: { 200: source.extend({ keys: z.array(key) }), ...commonErrors } },
    },
    async (req) => getSource(svc, req.params.id),
  );

  app.post(
    "/api/v1/sources/:id/keys",
    {
      config: { action: "sources/keys/write" },
      schema: {
        tags,
        description:
          "Rotates the source's key: issues a new one; earlier keys keep working for `grace` (default 24h).",
        params,
        body: z.strictObject({ grace: grace.optional() }).optional(),
        response: {
          201: z.object({ apiKey: z.string(), keyId: z.string(), previousKeysExpireAt: z.string() }),
          ...commonErrors,
        },
      },
    },
    async (req, reply) =>
      reply.status(201).send(
        await rotateSourceKey(svc, actorOf(req), req.params.id, {
          graceMs: req.body?.grace ?? 24 * 3_600_000,
        }),
      ),
  );

  app.delete(
    "/api/v1/sources/:id/keys",
    {
      config: { action: "sources/keys/delete" },
      schema: {
        tags,
        description: "Revokes every key of the source.",
        params,
        response: { 200: z.object({ revoked: z.number() }), ...commonErrors },
      },
    },
    async (req) => revokeSourceKeys(svc, actorOf(req), req.params.id),
  );

  app.delete(
    "/api/v1/sources/:id/keys/:keyId",
    {
      config: { action: "sources/keys/delete" },
      schema: {
        tags,
        params: z.object({ id: z.string().min(1).max(64), keyId: z.string().min(1).max(64) }),
        response: { 200: z.object({ revoked: z.number() }), ...commonErrors },
      },
    },
    async (req) => revokeSourceKeys(svc, actorOf(req), req.params.id, req.params.keyId),
  );

  app.delete(
    "/api/v1/sources/:id",
    {
      config: { action: "sources/delete" },
      schema: {
        tags,
        description: "Disables the source and revokes its keys; its usage stays.",
        params,
        response: { 204: z.null(), 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      await deleteSource(svc, actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
