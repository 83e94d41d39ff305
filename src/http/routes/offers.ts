import { z } from "zod";
import { requireAtProvider } from "../../auth/scoping.js";
import { requireOnOffer, visibleOffers } from "../../offers/access.js";
import { createOffer, deleteOffer, getOffer, listOffers, updateOffer } from "../../offers/service.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { commonErrors, displayName, errorBody, page, pageQuery, slug } from "../schemas.js";
import type { App } from "../types.js";

export const offerIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 letters, digits, '.', '_' or '-'");

const offer = z.object({
  id: z.string(),
  displayName: z.string(),
  providerId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const params = z.object({ id: z.string().min(1).max(64) });
const tags = ["offers"];

/**
 * `/api/v1/offers`: what subscriptions are sold under. An offer belongs to a provider, which
 * manages it (offers/write at its scope); the providers below it may resell it and read it; the
 * subscriptions on it read it. Everyone else gets 404.
 */
export function registerOffers(app: App, svc: Services): void {
  app.post(
    "/api/v1/offers",
    {
      config: { action: "offers/write", access: "resource" },
      schema: {
        tags,
        description:
          "Creates an offer owned by `providerId` (default: the operator's root provider). Its id is durable: an Azure offer id such as MS-AZR-0003P, or your own.",
        body: z.strictObject({ id: offerIdSchema, displayName, providerId: slug.optional() }),
        response: { 201: offer, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const providerId = req.body.providerId ?? svc.system.rootProviderId;
      const named = req.body.providerId !== undefined ? "providerId" : undefined;
      await requireAtProvider(svc, principalOf(req), "offers/write", providerId, named);
      return reply.status(201).send(await createOffer(svc, actorOf(req), { ...req.body, providerId }));
    },
  );

  app.get(
    "/api/v1/offers",
    {
      config: { action: "offers/read", access: "resource" },
      schema: {
        tags,
        description: "Lists the offers the caller can see.",
        querystring: z.object({ ...pageQuery, providerId: slug.optional() }),
        response: { 200: page(offer), ...commonErrors },
      },
    },
    async (req) => listOffers(svc, req.query, await visibleOffers(svc, principalOf(req), "offers/read")),
  );

  app.get(
    "/api/v1/offers/:id",
    {
      config: { action: "offers/read", access: "resource" },
      schema: { tags, params, response: { 200: offer, ...commonErrors } },
    },
    async (req) => {
      await requireOnOffer(svc, principalOf(req), "offers/read", req.params.id, {
        readAction: "offers/read",
        write: false,
      });
      return getOffer(svc, req.params.id);
    },
  );

  app.patch(
    "/api/v1/offers/:id",
    {
      config: { action: "offers/write", access: "resource" },
      schema: {
        tags,
        description: "Renames an offer. Needs offers/write at the owning provider.",
        params,
        body: z.strictObject({ displayName }),
        response: { 200: offer, ...commonErrors },
      },
    },
    async (req) => {
      await requireOnOffer(svc, principalOf(req), "offers/write", req.params.id, {
        readAction: "offers/read",
        write: true,
      });
      return updateOffer(svc, actorOf(req), req.params.id, req.body);
    },
  );

  app.delete(
    "/api/v1/offers/:id",
    {
      config: { action: "offers/delete", access: "resource" },
      schema: {
        tags,
        description:
          "Deletes an offer no subscription (not even a deleted one) is on, with its price sheets. The default offer stays.",
        params,
        response: { 204: z.null(), 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      await requireOnOffer(svc, principalOf(req), "offers/delete", req.params.id, {
        readAction: "offers/read",
        write: true,
      });
      await deleteOffer(svc, actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
