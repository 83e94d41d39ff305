import { z } from "zod";
import {
  createProvider,
  deleteProvider,
  getProvider,
  listProviders,
  updateProvider,
} from "../../providers/service.js";
import type { Services } from "../../services.js";
import { actorOf } from "../auth.js";
import { commonErrors, displayName, errorBody, guid, page, pageQuery, slug } from "../schemas.js";
import type { App } from "../types.js";

const provider = z.object({
  id: z.string(),
  displayName: z.string(),
  parentId: z.string().nullable(),
  subscriptionId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const params = z.object({ id: slug });
const create = z.strictObject({
  id: slug.optional(),
  displayName,
  parentId: slug.optional(),
  directoryId: guid("directoryId").optional(),
  subscriptionId: guid("subscriptionId").optional(),
});
const tags = ["providers"];

/** `/api/v1/providers`: the operator's root provider and the delegated providers below it. */
export function registerProviders(app: App, svc: Services): void {
  app.post(
    "/api/v1/providers",
    {
      config: { action: "providers/write" },
      schema: {
        tags,
        description: "Creates a delegated provider and its provider subscription, offered by its parent.",
        body: create,
        response: { 201: provider, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) =>
      reply.status(201).send(
        await createProvider(svc, actorOf(req), req.body, {
          rootProviderId: svc.system.rootProviderId,
          operatorDirectoryId: svc.system.operatorDirectoryId,
        }),
      ),
  );

  app.get(
    "/api/v1/providers",
    {
      config: { action: "providers/read" },
      schema: {
        tags,
        querystring: z.object({ ...pageQuery, parentId: slug.optional() }),
        response: { 200: page(provider), ...commonErrors },
      },
    },
    async (req) => listProviders(svc, req.query),
  );

  app.get(
    "/api/v1/providers/:id",
    {
      config: { action: "providers/read" },
      schema: { tags, params, response: { 200: provider, ...commonErrors } },
    },
    async (req) => getProvider(svc, req.params.id),
  );

  app.patch(
    "/api/v1/providers/:id",
    {
      config: { action: "providers/write" },
      schema: {
        tags,
        params,
        body: z.strictObject({ displayName }),
        response: { 200: provider, ...commonErrors },
      },
    },
    async (req) => updateProvider(svc, actorOf(req), req.params.id, req.body),
  );

  app.delete(
    "/api/v1/providers/:id",
    {
      config: { action: "providers/delete" },
      schema: { tags, params, response: { 204: z.null(), 409: errorBody, ...commonErrors } },
    },
    async (req, reply) => {
      await deleteProvider(svc, actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
