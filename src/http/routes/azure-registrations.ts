import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import {
  type CustomerSubscription,
  deleteCustomerSubscription,
  getCustomerSubscription,
  listCustomerSubscriptions,
  putCustomerSubscription,
} from "../../bridge/customer-subscriptions.js";
import { RegistrationError } from "../../bridge/errors.js";
import {
  deleteRegistration,
  getRegistration,
  listRegistrations,
  patchRegistration,
  putRegistration,
  type Registration,
  type RegistrationInput,
  type RegistrationRef,
} from "../../bridge/registration.js";
import { decodeRegistrationToken } from "../../bridge/token.js";
import type { Services } from "../../services.js";
import { actorOf } from "../auth.js";
import { AzureError } from "../azure-errors.js";
import {
  billingModel,
  registrationName,
  resourceGroupName,
  tags,
  upstreamCredential,
  upstreamType,
  upstreamUrl,
} from "../registration-schemas.js";
import type { App } from "../types.js";

/**
 * `Microsoft.AzureStack/registrations` and their `customerSubscriptions` at the Azure paths
 * (api-version 2017-06-01), for the Azure SDK (`@azure/arm-azurestack`) and PowerShell
 * (`New-AzResource`). In this emulation `{subscriptionId}` and `{resourceGroup}` are where the
 * registration was put: they are recorded at PUT and must match afterwards (RegistrationNotFound
 * otherwise); `{subscriptionId}` is also the default upstream subscription unless
 * `properties.defaultSubscriptionId` says otherwise.
 */
const API_VERSION = "2017-06-01";
const BASE =
  "/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations";

const azureError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const errors = { 400: azureError, 401: azureError, 403: azureError, 404: azureError, 409: azureError };

const registrationResource = z.object({
  id: z.string(),
  name: z.string(),
  type: z.literal("Microsoft.AzureStack/registrations"),
  location: z.literal("global"),
  etag: z.string(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({
    objectId: z.string(),
    cloudId: z.string(),
    billingModel,
    defaultSubscriptionId: z.string(),
    usageReportingEnabled: z.boolean(),
    upstreamType,
    upstreamUrl: z.string().nullable(),
    upstreamCredentialSet: z.boolean(),
    provisioningState: z.literal("Succeeded"),
  }),
});

const customerSubscriptionResource = z.object({
  id: z.string(),
  name: z.string(),
  type: z.literal("Microsoft.AzureStack/registrations/customerSubscriptions"),
  properties: z.object({ tenantId: z.string() }),
});

const apiVersionQuery = z.looseObject({ "api-version": z.string().optional() });
const placeParams = z.object({ subscriptionId: z.string().max(128), resourceGroupName: z.string().max(90) });
const regParams = placeParams.extend({ registrationName: z.string().max(90) });
const csParams = regParams.extend({ customerSubscriptionName: z.string().max(128) });

/** Writable properties; the read-only ones a client may echo back from a GET are accepted and ignored. */
const properties = z.strictObject({
  registrationToken: z.string().max(16_384).optional(),
  billingModel: billingModel.optional(),
  defaultSubscriptionId: z.string().max(64).optional(),
  usageReportingEnabled: z.boolean().optional(),
  upstreamType: upstreamType.optional(),
  upstreamUrl: upstreamUrl.nullable().optional(),
  upstreamCredential: upstreamCredential.nullable().optional(),
  objectId: z.unknown().optional(),
  cloudId: z.unknown().optional(),
  upstreamCredentialSet: z.unknown().optional(),
  provisioningState: z.unknown().optional(),
});
const registrationBody = z.looseObject({
  location: z.string().max(64).optional(),
  tags: tags.nullable().optional(),
  properties: properties.optional(),
});

function requireApiVersion(req: FastifyRequest): void {
  const v = (req.query as Record<string, unknown>)["api-version"];
  if (typeof v !== "string" || v === "")
    throw new AzureError(
      400,
      "NoApiVersion",
      "The api-version query parameter (?api-version=) is required for all requests.",
    );
  if (v !== API_VERSION)
    throw new AzureError(
      400,
      "InvalidApiVersionParameter",
      `The api-version '${v}' is invalid. The supported versions are '${API_VERSION}'.`,
    );
}

/** ARM answers a DELETE with an empty body, 200 when something was deleted and 204 when nothing was there. */
function emptyAnswer(reply: FastifyReply, status: 200 | 204) {
  return reply
    .status(status)
    .serializer(() => "")
    .send(null);
}

/** Runs a handler, answering registration failures with Azure's codes and statuses. */
async function azure<T>(req: FastifyRequest, f: () => Promise<T>): Promise<T> {
  requireApiVersion(req);
  try {
    return await f();
  } catch (e) {
    if (e instanceof RegistrationError) throw new AzureError(e.azureStatus, e.azureCode, e.message);
    throw e;
  }
}

function toResource(r: Registration) {
  return {
    id: r.id,
    name: r.name,
    type: "Microsoft.AzureStack/registrations" as const,
    location: "global" as const,
    etag: r.etag,
    ...(r.tags ? { tags: r.tags } : {}),
    properties: {
      objectId: r.objectId,
      cloudId: r.cloudId,
      billingModel: r.billingModel,
      defaultSubscriptionId: r.defaultSubscriptionId,
      usageReportingEnabled: r.usageReportingEnabled,
      upstreamType: r.upstreamType,
      upstreamUrl: r.upstreamUrl,
      upstreamCredentialSet: r.upstreamCredentialSet,
      provisioningState: "Succeeded" as const,
    },
  };
}

function toCustomerResource(reg: Registration, c: CustomerSubscription) {
  return {
    id: `${reg.id}/customerSubscriptions/${c.id}`,
    name: `${reg.name}/${c.id}`,
    type: "Microsoft.AzureStack/registrations/customerSubscriptions" as const,
    properties: { tenantId: c.tenantId },
  };
}

/** The token's properties, overridden by those given explicitly. */
function inputOf(body: z.infer<typeof registrationBody>): RegistrationInput {
  const p = body.properties ?? {};
  if (body.location !== undefined && body.location.toLowerCase() !== "global")
    throw new AzureError(
      400,
      "LocationNotAvailableForResourceType",
      `The provided location '${body.location}' is not available for resource type 'Microsoft.AzureStack/registrations'. List of available regions for the resource type is 'global'.`,
    );
  const input: RegistrationInput = p.registrationToken ? decodeRegistrationToken(p.registrationToken) : {};
  for (const k of [
    "billingModel",
    "defaultSubscriptionId",
    "usageReportingEnabled",
    "upstreamType",
    "upstreamUrl",
    "upstreamCredential",
  ] as const) {
    if (p[k] !== undefined) (input as Record<string, unknown>)[k] = p[k];
  }
  if (body.tags !== undefined) input.tags = body.tags;
  return input;
}

const refOf = (p: z.infer<typeof regParams>): RegistrationRef => ({
  name: p.registrationName,
  subscriptionId: p.subscriptionId,
  resourceGroup: p.resourceGroupName,
});

function checkNames(p: z.infer<typeof regParams>): void {
  if (!registrationName.safeParse(p.registrationName).success)
    throw new AzureError(400, "InvalidResourceName", `The resource name '${p.registrationName}' is invalid.`);
  if (!resourceGroupName.safeParse(p.resourceGroupName).success)
    throw new AzureError(
      400,
      "InvalidResourceGroup",
      `The resource group name '${p.resourceGroupName}' is invalid.`,
    );
}

export function registerAzureRegistrations(app: App, svc: Services): void {
  const tagNames = ["azure-registrations"];
  const read = { action: "registrations/read" as const, envelope: "azure" as const };
  const write = { action: "registrations/write" as const, envelope: "azure" as const };
  const del = { action: "registrations/delete" as const, envelope: "azure" as const };

  app.get(
    BASE,
    {
      config: read,
      schema: {
        tags: tagNames,
        params: placeParams,
        querystring: apiVersionQuery,
        response: { 200: z.object({ value: z.array(registrationResource) }), ...errors },
      },
    },
    (req) =>
      azure(req, async () => ({
        value: (
          await listRegistrations(svc, {
            subscriptionId: req.params.subscriptionId,
            resourceGroup: req.params.resourceGroupName,
          })
        ).map(toResource),
      })),
  );

  app.get(
    `${BASE}/:registrationName`,
    {
      config: read,
      schema: {
        tags: tagNames,
        params: regParams,
        querystring: apiVersionQuery,
        response: { 200: registrationResource, ...errors },
      },
    },
    (req) => azure(req, async () => toResource(await getRegistration(svc, refOf(req.params)))),
  );

  app.put(
    `${BASE}/:registrationName`,
    {
      config: write,
      schema: {
        tags: tagNames,
        description:
          "Creates (201) or replaces (200) the cloud's registration. `properties.registrationToken` (base64 JSON of the properties) may stand for the properties.",
        params: regParams,
        querystring: apiVersionQuery,
        body: registrationBody,
        response: { 200: registrationResource, 201: registrationResource, ...errors },
      },
    },
    (req, reply) =>
      azure(req, async () => {
        checkNames(req.params);
        const r = await putRegistration(
          svc,
          actorOf(req),
          {
            name: req.params.registrationName,
            subscriptionId: req.params.subscriptionId,
            resourceGroup: req.params.resourceGroupName,
          },
          inputOf(req.body),
        );
        return reply.status(r.created ? 201 : 200).send(toResource(r.registration));
      }),
  );

  app.patch(
    `${BASE}/:registrationName`,
    {
      config: write,
      schema: {
        tags: tagNames,
        params: regParams,
        querystring: apiVersionQuery,
        body: registrationBody,
        response: { 200: registrationResource, ...errors },
      },
    },
    (req) =>
      azure(req, async () =>
        toResource(await patchRegistration(svc, actorOf(req), refOf(req.params), inputOf(req.body))),
      ),
  );

  app.delete(
    `${BASE}/:registrationName`,
    {
      config: del,
      schema: {
        tags: tagNames,
        params: regParams,
        querystring: apiVersionQuery,
        response: { 200: z.null(), 204: z.null(), ...errors },
      },
    },
    (req, reply) =>
      azure(req, async () => {
        const deleted = await deleteRegistration(svc, actorOf(req), refOf(req.params));
        return emptyAnswer(reply, deleted ? 200 : 204);
      }),
  );

  app.get(
    `${BASE}/:registrationName/customerSubscriptions`,
    {
      config: read,
      schema: {
        tags: tagNames,
        params: regParams,
        querystring: apiVersionQuery,
        response: { 200: z.object({ value: z.array(customerSubscriptionResource) }), ...errors },
      },
    },
    (req) =>
      azure(req, async () => {
        const reg = await getRegistration(svc, refOf(req.params));
        const list = await listCustomerSubscriptions(svc, refOf(req.params));
        return { value: list.map((c) => toCustomerResource(reg, c)) };
      }),
  );

  app.get(
    `${BASE}/:registrationName/customerSubscriptions/:customerSubscriptionName`,
    {
      config: read,
      schema: {
        tags: tagNames,
        params: csParams,
        querystring: apiVersionQuery,
        response: { 200: customerSubscriptionResource, ...errors },
      },
    },
    (req) =>
      azure(req, async () => {
        const reg = await getRegistration(svc, refOf(req.params));
        const c = await getCustomerSubscription(svc, refOf(req.params), req.params.customerSubscriptionName);
        return toCustomerResource(reg, c);
      }),
  );

  app.put(
    `${BASE}/:registrationName/customerSubscriptions/:customerSubscriptionName`,
    {
      config: write,
      schema: {
        tags: tagNames,
        description:
          "Adds or replaces a tenant's customer subscription; answers 200 with the resource (the Azure SDK refuses 201).",
        params: csParams,
        querystring: apiVersionQuery,
        body: z
          .looseObject({ properties: z.looseObject({ tenantId: z.string().max(64).nullish() }).nullish() })
          .nullish(),
        response: { 200: customerSubscriptionResource, ...errors },
      },
    },
    (req) =>
      azure(req, async () => {
        const tenantId = req.body?.properties?.tenantId;
        // Azure looks the tenant up in its commerce back end when PowerShell sends no body; tally has none.
        if (tenantId === undefined || tenantId === null)
          throw new AzureError(
            400,
            "InvalidProperty",
            'properties.tenantId is required: send {"properties":{"tenantId":"<the tenant\'s directory id>"}}.',
          );
        const r = await putCustomerSubscription(
          svc,
          actorOf(req),
          refOf(req.params),
          req.params.customerSubscriptionName,
          { tenantId },
        );
        return toCustomerResource(await getRegistration(svc, refOf(req.params)), r.customerSubscription);
      }),
  );

  app.delete(
    `${BASE}/:registrationName/customerSubscriptions/:customerSubscriptionName`,
    {
      config: del,
      schema: {
        tags: tagNames,
        params: csParams,
        querystring: apiVersionQuery,
        response: { 200: z.null(), 204: z.null(), ...errors },
      },
    },
    (req, reply) =>
      azure(req, async () => {
        const deleted = await deleteCustomerSubscription(
          svc,
          actorOf(req),
          refOf(req.params),
          req.params.customerSubscriptionName,
        );
        return emptyAnswer(reply, deleted ? 200 : 204);
      }),
  );
}
