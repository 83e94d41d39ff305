import { z } from "zod";
import { requireAtProvider, requireOnSubscription, visibleSubscriptions } from "../../auth/scoping.js";
import type { Services } from "../../services.js";
import { SUBSCRIPTION_STATES } from "../../subscriptions/repository.js";
import {
  createSubscription,
  deleteSubscription,
  getSubscription,
  listSubscriptions,
  updateSubscription,
} from "../../subscriptions/service.js";
import { actorOf, principalOf } from "../auth.js";
import { commonErrors, displayName, errorBody, guid, page, pageQuery, slug } from "../schemas.js";
import type { App } from "../types.js";

const subscription = z.object({
  id: z.string(),
  displayName: z.string(),
  directoryId: z.string(),
  providerId: z.string(),
  offerId: z.string(),
  state: z.enum(SUBSCRIPTION_STATES),
  createdAt: z.string(),
  updatedAt: z.string(),
  deletedAt: z.string().nullable(),
});
const params = z.object({ id: guid("subscription id") });
const offerId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 letters, digits, '.', '_' or '-'");
const create = z.strictObject({
  id: guid("id").optional(),
  displayName,
  directoryId: guid("directoryId"),
  providerId: slug.optional(),
  offerId: offerId.optional(),
  state: z.enum(["Active", "Disabled"]).optional(),
});
const update = z
  .strictObject({
    displayName: displayName.optional(),
    offerId: offerId.optional(),
    state: z.enum(SUBSCRIPTION_STATES).optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "give at least one of displayName, offerId, state" });
const listQuery = z.object({
  ...pageQuery,
  directoryId: guid("directoryId").optional(),
  providerId: slug.optional(),
  state: z
    .string()
    .transform((s) => s.split(","))
    .pipe(z.array(z.enum(SUBSCRIPTION_STATES)))
    .optional(),
});
const tags = ["subscriptions"];

/**
 * `/api/v1/subscriptions`: what consumes resources; deleting one keeps it (state Deleted) and its
 * usage. Roles on a subscription let their holders read it and rename it; its offer, state and
 * existence are decisions of the provider that offers it, so they need the action at that
 * provider's scope.
 */
export function registerSubscriptions(app: App, svc: Services): void {
  app.post(
    "/api/v1/subscriptions",
    {
      config: { action: "subscriptions/write", access: "resource" },
      schema: {
        tags,
        description:
          "Creates a subscription offered by `providerId` (default: the operator's root provider). Needs subscriptions/write at that provider.",
        body: create,
        response: { 201: subscription, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const providerId = req.body.providerId ?? svc.system.rootProviderId;
      const named = req.body.providerId !== undefined ? "providerId" : undefined;
      await requireAtProvider(svc, principalOf(req), "subscriptions/write", providerId, named);
      return reply.status(201).send(
        await createSubscription(svc, actorOf(req), req.body, {
          rootProviderId: svc.system.rootProviderId,
        }),
      );
    },
  );

  app.get(
    "/api/v1/subscriptions",
    {
      config: { action: "subscriptions/read", access: "resource" },
      schema: {
        tags,
        description:
          "Lists the subscriptions the caller can see; deleted ones only when `state` asks for them.",
        querystring: listQuery,
        response: { 200: page(subscription), ...commonErrors },
      },
    },
    async (req) => {
      const { state, ...q } = req.query;
      const scope = await visibleSubscriptions(svc, principalOf(req), "subscriptions/read");
      return listSubscriptions(svc, { ...q, states: state ?? ["Active", "Disabled"], scope });
    },
  );

  app.get(
    "/api/v1/subscriptions/:id",
    {
      config: { action: "subscriptions/read", access: "resource" },
      schema: { tags, params, response: { 200: subscription, ...commonErrors } },
    },
    async (req) => {
      await requireOnSubscription(svc, principalOf(req), "subscriptions/read", req.params.id);
      return getSubscription(svc, req.params.id);
    },
  );

  app.patch(
    "/api/v1/subscriptions/:id",
    {
      config: { action: "subscriptions/write", access: "resource" },
      schema: {
        tags,
        description:
          "Renaming needs subscriptions/write on the subscription; changing the offer or the state needs it at the offering provider (subscriptions/delete to set Deleted).",
        params,
        body: update,
        response: { 200: subscription, 409: errorBody, ...commonErrors },
      },
    },
    async (req) => {
      const b = req.body;
      const manage = b.offerId !== undefined || b.state !== undefined;
      const action = b.state === "Deleted" ? "subscriptions/delete" : "subscriptions/write";
      await requireOnSubscription(svc, principalOf(req), action, req.params.id, { manage });
      return updateSubscription(svc, actorOf(req), req.params.id, b);
    },
  );

  app.delete(
    "/api/v1/subscriptions/:id",
    {
      config: { action: "subscriptions/delete", access: "resource" },
      schema: {
        tags,
        description:
          "Marks the subscription Deleted. Its usage stays and keeps appearing in usage reports. Needs subscriptions/delete at the offering provider.",
        params,
        response: { 200: subscription, ...commonErrors },
      },
    },
    async (req) => {
      await requireOnSubscription(svc, principalOf(req), "subscriptions/delete", req.params.id, {
        manage: true,
      });
      return deleteSubscription(svc, actorOf(req), req.params.id);
    },
  );
}
