import { z } from "zod";
import {
  deleteCustomerSubscription,
  getCustomerSubscription,
  listCustomerSubscriptions,
  putCustomerSubscription,
} from "../../bridge/customer-subscriptions.js";
import {
  DEFAULT_RESOURCE_GROUP,
  deleteRegistration,
  getRegistration,
  listRegistrations,
  patchRegistration,
  putRegistration,
} from "../../bridge/registration.js";
import { notFound } from "../../domain/errors.js";
import { parseInstant } from "../../domain/time.js";
import type { Services } from "../../services.js";
import { actorOf } from "../auth.js";
import {
  billingModel,
  registrationName,
  resourceGroupName,
  tags,
  upstreamCredential,
  upstreamType,
  upstreamUrl,
} from "../registration-schemas.js";
import { commonErrors, errorBody, guid } from "../schemas.js";
import type { App } from "../types.js";

const registration = z.object({
  id: z.string(),
  name: z.string(),
  subscriptionId: z.string(),
  resourceGroup: z.string(),
  objectId: z.string(),
  cloudId: z.string(),
  billingModel,
  defaultSubscriptionId: z.string(),
  usageReportingEnabled: z.boolean(),
  upstreamType,
  upstreamUrl: z.string().nullable(),
  upstreamCredentialSet: z.boolean(),
  tags: z.record(z.string(), z.string()).nullable(),
  etag: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const customerSubscription = z.object({
  id: z.string(),
  registrationName: z.string(),
  tenantId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const instant = z.string().transform((s, ctx) => {
  const t = parseInstant(s);
  if (typeof t === "string") {
    ctx.addIssue({ code: "custom", message: t });
    return z.NEVER;
  }
  return t;
});

const params = z.object({ name: z.string().min(1).max(90) });
const csParams = z.object({ name: z.string().min(1).max(90), id: z.string().min(1).max(64) });
const tagNames = ["registrations"];

const DESCRIPTION = `The cloud's registration with upstream commerce (one per cloud): billing model, the default upstream
subscription, usage reporting, and the upstream the usage bridge forwards to. \`upstreamCredential\` is
write-only: it is stored sealed and never returned (\`upstreamCredentialSet\` says whether one is stored).`;

/** `/api/v1/registrations`: the registration and its customer subscriptions, natively. */
export function registerRegistrations(app: App, svc: Services): void {
  app.get(
    "/api/v1/registrations",
    {
      config: { action: "registrations/read" },
      schema: {
        tags: tagNames,
        description: DESCRIPTION,
        response: { 200: z.object({ items: z.array(registration), nextCursor: z.null() }), ...commonErrors },
      },
    },
    async () => ({ items: await listRegistrations(svc), nextCursor: null }),
  );

  app.post(
    "/api/v1/registrations",
    {
      config: { action: "registrations/write" },
      schema: {
        tags: tagNames,
        description: `${DESCRIPTION}\n\nForwarding starts with the reported hour of \`forwardFrom\` (default: the current hour).`,
        body: z.strictObject({
          name: registrationName,
          billingModel,
          defaultSubscriptionId: guid(),
          usageReportingEnabled: z.boolean().optional(),
          upstreamType: upstreamType.optional(),
          upstreamUrl: upstreamUrl.optional(),
          upstreamCredential: upstreamCredential.optional(),
          subscriptionId: guid().optional(),
          resourceGroup: resourceGroupName.optional(),
          forwardFrom: instant.optional(),
          tags: tags.optional(),
        }),
        response: { 201: registration, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const { name, subscriptionId, resourceGroup, forwardFrom, ...input } = req.body;
      const r = await putRegistration(
        svc,
        actorOf(req),
        {
          name,
          subscriptionId: subscriptionId ?? input.defaultSubscriptionId,
          resourceGroup: resourceGroup ?? DEFAULT_RESOURCE_GROUP,
        },
        input,
        { createOnly: true, ...(forwardFrom !== undefined ? { forwardFrom } : {}) },
      );
      return reply.status(201).send(r.registration);
    },
  );

  app.get(
    "/api/v1/registrations/:name",
    {
      config: { action: "registrations/read" },
      schema: { tags: tagNames, params, response: { 200: registration, ...commonErrors } },
    },
    async (req) => getRegistration(svc, { name: req.params.name }),
  );

  app.patch(
    "/api/v1/registrations/:name",
    {
      config: { action: "registrations/write" },
      schema: {
        tags: tagNames,
        description:
          "Changes the given properties. A billing model or mapping change applies to windows forwarded after it; turning usage reporting on again starts with the current hour.",
        params,
        body: z.strictObject({
          billingModel: billingModel.optional(),
          defaultSubscriptionId: guid().optional(),
          usageReportingEnabled: z.boolean().optional(),
          upstreamType: upstreamType.optional(),
          upstreamUrl: upstreamUrl.nullable().optional(),
          upstreamCredential: upstreamCredential.nullable().optional(),
          tags: tags.nullable().optional(),
        }),
        response: { 200: registration, 409: errorBody, ...commonErrors },
      },
    },
    async (req) => patchRegistration(svc, actorOf(req), { name: req.params.name }, req.body),
  );

  app.delete(
    "/api/v1/registrations/:name",
    {
      config: { action: "registrations/delete" },
      schema: {
        tags: tagNames,
        description: "Deletes the registration: forwarding stops; batches not yet acknowledged are dropped.",
        params,
        response: { 204: z.null(), ...commonErrors },
      },
    },
    async (req, reply) => {
      if (!(await deleteRegistration(svc, actorOf(req), { name: req.params.name })))
        throw notFound("registration", req.params.name);
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/api/v1/registrations/:name/customer-subscriptions",
    {
      config: { action: "registrations/read" },
      schema: {
        tags: tagNames,
        description:
          "The tenants' customer (CSP) subscriptions; unmapped tenants' usage goes to the default subscription.",
        params,
        response: {
          200: z.object({ items: z.array(customerSubscription), nextCursor: z.null() }),
          ...commonErrors,
        },
      },
    },
    async (req) => ({
      items: await listCustomerSubscriptions(svc, { name: req.params.name }),
      nextCursor: null,
    }),
  );

  app.put(
    "/api/v1/registrations/:name/customer-subscriptions/:id",
    {
      config: { action: "registrations/write" },
      schema: {
        tags: tagNames,
        description:
          "Charges a tenant's usage to this upstream subscription from the next forwarded window on. A tenant has one: a second one replaces the first.",
        params: csParams,
        body: z.strictObject({ tenantId: z.string().max(64) }),
        response: { 200: customerSubscription, 201: customerSubscription, 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const r = await putCustomerSubscription(
        svc,
        actorOf(req),
        { name: req.params.name },
        req.params.id,
        req.body,
      );
      return reply.status(r.created ? 201 : 200).send(r.customerSubscription);
    },
  );

  app.get(
    "/api/v1/registrations/:name/customer-subscriptions/:id",
    {
      config: { action: "registrations/read" },
      schema: { tags: tagNames, params: csParams, response: { 200: customerSubscription, ...commonErrors } },
    },
    async (req) => getCustomerSubscription(svc, { name: req.params.name }, req.params.id),
  );

  app.delete(
    "/api/v1/registrations/:name/customer-subscriptions/:id",
    {
      config: { action: "registrations/delete" },
      schema: { tags: tagNames, params: csParams, response: { 204: z.null(), ...commonErrors } },
    },
    async (req, reply) => {
      if (!(await deleteCustomerSubscription(svc, actorOf(req), { name: req.params.name }, req.params.id)))
        throw notFound("customer subscription", req.params.id);
      return reply.status(204).send(null);
    },
  );
}
