import { z } from "zod";
import { permittedActions, ROLES } from "../../auth/roles.js";
import { SCOPE_KINDS } from "../../domain/scope.js";
import { commonErrors, page } from "../schemas.js";
import type { App } from "../types.js";

const definition = z.object({
  name: z.string(),
  description: z.string(),
  assignableScopes: z.array(z.enum(SCOPE_KINDS as [string, ...string[]])),
  actions: z.array(z.string()),
  notActions: z.array(z.string()),
  policyActions: z.array(z.object({ policy: z.string(), actions: z.array(z.string()) })),
  permittedActions: z.array(z.string()),
  permittedActionsByPolicy: z.record(z.string(), z.array(z.string())),
});

/** `/api/v1/role-definitions`: the built-in roles, as data, with the actions they permit today. */
export function registerRoleDefinitions(app: App): void {
  app.get(
    "/api/v1/role-definitions",
    {
      config: { action: "roleDefinitions/read", access: "authenticated" },
      schema: {
        tags: ["access"],
        description:
          "Every built-in role: its patterns (`*` matches any characters) and the concrete actions they permit.",
        response: { 200: page(definition), ...commonErrors },
      },
    },
    async () => ({
      items: ROLES.map((r) => {
        const { always, byPolicy } = permittedActions(r);
        return {
          name: r.name,
          description: r.description,
          assignableScopes: [...r.assignableScopes],
          actions: [...r.actions],
          notActions: [...r.notActions],
          policyActions: r.policyActions.map((p) => ({ policy: p.policy, actions: [...p.actions] })),
          permittedActions: always,
          permittedActionsByPolicy: byPolicy,
        };
      }),
      nextCursor: null,
    }),
  );
}
