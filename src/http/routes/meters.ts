import { z } from "zod";
import { createMeter, getMeter, listMeters, updateMeter } from "../../catalogue/service.js";
import type { Services } from "../../services.js";
import { actorOf } from "../auth.js";
import { commonErrors, displayName, errorBody, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";

const meter = z.object({
  id: z.string(),
  name: z.string(),
  unit: z.string(),
  category: z.string(),
  subCategory: z.string().nullable(),
  status: z.enum(["current", "deprecated"]),
  origin: z.enum(["catalogue", "custom"]),
});
const params = z.object({ id: z.string().min(1).max(64) });
const text = displayName;
const tags = ["meters"];

/**
 * `/api/v1/meters`: the meter catalogue (Azure Stack meters plus the operator's own). Every
 * authenticated principal may read it (tenants need meter names to read their usage); changing
 * it is operator-wide.
 */
export function registerMeters(app: App, svc: Services): void {
  app.get(
    "/api/v1/meters",
    {
      config: { action: "meters/read", access: "authenticated" },
      schema: {
        tags,
        querystring: z.object({
          ...pageQuery,
          status: z.enum(["current", "deprecated"]).optional(),
          category: z.string().max(128).optional(),
        }),
        response: { 200: page(meter), ...commonErrors },
      },
    },
    async (req) => listMeters(svc, req.query),
  );

  app.get(
    "/api/v1/meters/:id",
    {
      config: { action: "meters/read", access: "authenticated" },
      schema: {
        tags,
        description: "Meter ids match case- and hyphen-insensitively.",
        params,
        response: { 200: meter, ...commonErrors },
      },
    },
    async (req) => getMeter(svc, req.params.id),
  );

  app.post(
    "/api/v1/meters",
    {
      config: { action: "meters/write" },
      schema: {
        tags,
        description: "Adds a custom meter.",
        body: z.strictObject({
          id: z.string().max(36),
          name: text,
          unit: text,
          category: text,
          subCategory: text.optional(),
        }),
        response: { 201: meter, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => reply.status(201).send(await createMeter(svc, actorOf(req), req.body)),
  );

  app.patch(
    "/api/v1/meters/:id",
    {
      config: { action: "meters/write" },
      schema: {
        tags,
        description:
          "Deprecates or reinstates a meter (`status`); custom meters can also change their descriptive fields.",
        params,
        body: z
          .strictObject({
            status: z.enum(["current", "deprecated"]).optional(),
            name: text.optional(),
            unit: text.optional(),
            category: text.optional(),
            subCategory: text.nullable().optional(),
          })
          .refine((b) => Object.keys(b).length > 0, { message: "give at least one field to change" }),
        response: { 200: meter, 409: errorBody, ...commonErrors },
      },
    },
    async (req) => updateMeter(svc, actorOf(req), req.params.id, req.body),
  );
}
