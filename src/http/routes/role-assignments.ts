import { z } from "zod";
import { createRoleAssignment, deleteRoleAssignment, listRoleAssignments } from "../../auth/assignments.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { commonErrors, errorBody, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Principal ids are the identity provider's (`oid`/`sub`): opaque, so only bounded and printable. */
const principalId = z
  .string()
  .min(1, "must not be empty")
  .max(256, "must be at most 256 characters")
  .refine((s) => !CONTROL.test(s), { message: "must not contain control characters" });

const assignment = z.object({
  id: z.string(),
  principalId: z.string(),
  role: z.string(),
  scope: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
});
const create = z.strictObject({
  principalId,
  role: z.string().min(1).max(128),
  scope: z.string().min(1).max(512),
});
const listQuery = z.object({
  ...pageQuery,
  principalId: principalId.optional(),
  scope: z.string().min(1).max(512).optional(),
});
const tags = ["access"];

/**
 * `/api/v1/role-assignments`: who holds which role where. Granting needs roleAssignments/write at
 * (or above) the scope, and granting a role that can itself grant (Owner, Billing account owner,
 * Enterprise administrator) needs holding it there; lists show the caller's own assignments and
 * those at or below the scopes where it may read assignments.
 */
export function registerRoleAssignments(app: App, svc: Services): void {
  app.post(
    "/api/v1/role-assignments",
    {
      config: { action: "roleAssignments/write", access: "resource" },
      schema: {
        tags,
        description:
          "Assigns a role (by name) to a principal at a scope: `/`, `/providers/{id}`, `/subscriptions/{guid}`, `/billingAccounts/{id}`, `/enrollments/{id}[/departments/{id}[/accounts/{id}]]`.",
        body: create,
        response: { 201: assignment, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) =>
      reply.status(201).send(await createRoleAssignment(svc, principalOf(req), actorOf(req), req.body)),
  );

  app.get(
    "/api/v1/role-assignments",
    {
      config: { action: "roleAssignments/read", access: "resource" },
      schema: {
        tags,
        description:
          "Lists role assignments the caller may see; `scope` matches exactly (after canonicalisation).",
        querystring: listQuery,
        response: { 200: page(assignment), ...commonErrors },
      },
    },
    async (req) => listRoleAssignments(svc, principalOf(req), req.query),
  );

  app.delete(
    "/api/v1/role-assignments/:id",
    {
      config: { action: "roleAssignments/delete", access: "resource" },
      schema: {
        tags,
        description: "Revokes a role assignment. The last Owner of `/` cannot be revoked (409).",
        params: z.object({ id: z.string().min(1).max(64) }),
        response: { 204: z.null(), 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      await deleteRoleAssignment(svc, principalOf(req), actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
