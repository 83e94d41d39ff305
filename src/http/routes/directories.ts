import { z } from "zod";
import { forbidden } from "../../auth/access.js";
import type { Principal } from "../../auth/principal.js";
import { canAtRootOrAnyProvider, visibleSubscriptions } from "../../auth/scoping.js";
import {
  createDirectory,
  deleteDirectory,
  getDirectory,
  listDirectories,
  updateDirectory,
} from "../../directories/service.js";
import { ROOT_CHAIN } from "../../domain/scope.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { commonErrors, displayName, errorBody, guid, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";

const directory = z.object({
  id: z.string(),
  displayName: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const params = z.object({ id: guid("directory id") });
const create = z.strictObject({ id: guid("id"), displayName });
const update = z.strictObject({ displayName });
const tags = ["directories"];

/**
 * Directories are shared by every provider that serves the tenant, so changing or removing one is
 * operator-wide; a principal sees the directories of the subscriptions it can see. Renaming or
 * deleting one it cannot see answers 404, one it can see 403.
 */
async function requireOperatorOn(svc: Services, p: Principal, action: string, id: string): Promise<void> {
  if (await svc.access.can(p, action, ROOT_CHAIN)) return;
  await getDirectory(svc, id, await visibleSubscriptions(svc, p, "directories/read"));
  throw forbidden(p, action);
}

/** `/api/v1/directories`: tenants, identified by their identity-provider tenant id. */
export function registerDirectories(app: App, svc: Services): void {
  app.post(
    "/api/v1/directories",
    {
      config: { action: "directories/write", access: "resource" },
      schema: {
        tags,
        description: "Registers a directory. Operators and delegated provider administrators may.",
        body: create,
        response: { 201: directory, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      if (!(await canAtRootOrAnyProvider(svc, p, "directories/write")))
        throw forbidden(p, "directories/write");
      return reply.status(201).send(await createDirectory(svc, actorOf(req), req.body));
    },
  );

  app.get(
    "/api/v1/directories",
    {
      config: { action: "directories/read", access: "resource" },
      schema: {
        tags,
        description: "Lists the directories of the subscriptions the caller can see (all, for operators).",
        querystring: z.object(pageQuery),
        response: { 200: page(directory), ...commonErrors },
      },
    },
    async (req) =>
      listDirectories(svc, req.query, await visibleSubscriptions(svc, principalOf(req), "directories/read")),
  );

  app.get(
    "/api/v1/directories/:id",
    {
      config: { action: "directories/read", access: "resource" },
      schema: { tags, params, response: { 200: directory, ...commonErrors } },
    },
    async (req) =>
      getDirectory(svc, req.params.id, await visibleSubscriptions(svc, principalOf(req), "directories/read")),
  );

  app.patch(
    "/api/v1/directories/:id",
    {
      config: { action: "directories/write", access: "resource" },
      schema: { tags, params, body: update, response: { 200: directory, ...commonErrors } },
    },
    async (req) => {
      await requireOperatorOn(svc, principalOf(req), "directories/write", req.params.id);
      return updateDirectory(svc, actorOf(req), req.params.id, req.body);
    },
  );

  app.delete(
    "/api/v1/directories/:id",
    {
      config: { action: "directories/delete", access: "resource" },
      schema: { tags, params, response: { 204: z.null(), 409: errorBody, ...commonErrors } },
    },
    async (req, reply) => {
      await requireOperatorOn(svc, principalOf(req), "directories/delete", req.params.id);
      await deleteDirectory(svc, actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
