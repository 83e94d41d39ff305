import { z } from "zod";
import {
  createDirectory,
  deleteDirectory,
  getDirectory,
  listDirectories,
  updateDirectory,
} from "../../directories/service.js";
import type { Services } from "../../services.js";
import { actorOf } from "../auth.js";
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

/** `/api/v1/directories`: tenants, identified by their identity-provider tenant id. */
export function registerDirectories(app: App, svc: Services): void {
  app.post(
    "/api/v1/directories",
    {
      config: { action: "directories/write" },
      schema: { tags, body: create, response: { 201: directory, 409: errorBody, ...commonErrors } },
    },
    async (req, reply) => reply.status(201).send(await createDirectory(svc, actorOf(req), req.body)),
  );

  app.get(
    "/api/v1/directories",
    {
      config: { action: "directories/read" },
      schema: { tags, querystring: z.object(pageQuery), response: { 200: page(directory), ...commonErrors } },
    },
    async (req) => listDirectories(svc, req.query),
  );

  app.get(
    "/api/v1/directories/:id",
    {
      config: { action: "directories/read" },
      schema: { tags, params, response: { 200: directory, ...commonErrors } },
    },
    async (req) => getDirectory(svc, req.params.id),
  );

  app.patch(
    "/api/v1/directories/:id",
    {
      config: { action: "directories/write" },
      schema: { tags, params, body: update, response: { 200: directory, ...commonErrors } },
    },
    async (req) => updateDirectory(svc, actorOf(req), req.params.id, req.body),
  );

  app.delete(
    "/api/v1/directories/:id",
    {
      config: { action: "directories/delete" },
      schema: { tags, params, response: { 204: z.null(), 409: errorBody, ...commonErrors } },
    },
    async (req, reply) => {
      await deleteDirectory(svc, actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
