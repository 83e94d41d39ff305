import { z } from "zod";
import { requireAtProvider, requireOnProvider, visibleProviders } from "../../auth/scoping.js";
import {
  createProvider,
  deleteProvider,
  getProvider,
  listProviders,
  updateProvider,
} from "../../providers/service.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
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

/**
 * `/api/v1/providers`: the operator's root provider and the delegated providers below it. An
 * administrator of a provider sees and manages it and everything below it; creating or deleting a
 * provider is its parent's decision.
 */
export function registerProviders(app: App, svc: Services): void {
  app.post(
    "/api/v1/providers",
    {
      config: { action: "providers/write", access: "resource" },
      schema: {
        tags,
        description:
          "Creates a delegated provider and its provider subscription, offered by its parent (default: the operator's root provider). Needs providers/write at the parent.",
        body: create,
        response: { 201: provider, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const parentId = req.body.parentId ?? svc.system.rootProviderId;
      const named = req.body.parentId !== undefined ? "parentId" : undefined;
      await requireAtProvider(svc, principalOf(req), "providers/write", parentId, named);
      return reply.status(201).send(
        await createProvider(svc, actorOf(req), req.body, {
          rootProviderId: svc.system.rootProviderId,
          operatorDirectoryId: svc.system.operatorDirectoryId,
        }),
      );
    },
  );

  app.get(
    "/api/v1/providers",
    {
      config: { action: "providers/read", access: "resource" },
      schema: {
        tags,
        description: "Lists the providers the caller administers or reads (all, for operators).",
        querystring: z.object({ ...pageQuery, parentId: slug.optional() }),
        response: { 200: page(provider), ...commonErrors },
      },
    },
    async (req) => {
      const visible = await visibleProviders(svc, principalOf(req), "providers/read");
      return listProviders(svc, { ...req.query, ...(visible === "all" ? {} : { ids: visible }) });
    },
  );

  app.get(
    "/api/v1/providers/:id",
    {
      config: { action: "providers/read", access: "resource" },
      schema: { tags, params, response: { 200: provider, ...commonErrors } },
    },
    async (req) => {
      await requireOnProvider(svc, principalOf(req), "providers/read", req.params.id);
      return getProvider(svc, req.params.id);
    },
  );

  app.patch(
    "/api/v1/providers/:id",
    {
      config: { action: "providers/write", access: "resource" },
      schema: {
        tags,
        params,
        body: z.strictObject({ displayName }),
        response: { 200: provider, ...commonErrors },
      },
    },
    async (req) => {
      await requireOnProvider(svc, principalOf(req), "providers/write", req.params.id);
      return updateProvider(svc, actorOf(req), req.params.id, req.body);
    },
  );

  app.delete(
    "/api/v1/providers/:id",
    {
      config: { action: "providers/delete", access: "resource" },
      schema: {
        tags,
        description:
          "Deletes a delegated provider that offers nothing any more. Needs providers/delete at the parent.",
        params,
        response: { 204: z.null(), 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      await requireOnProvider(svc, principalOf(req), "providers/delete", req.params.id, { manage: true });
      await deleteProvider(svc, actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
