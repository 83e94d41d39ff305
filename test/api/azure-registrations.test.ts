import { AzureStackManagementClient } from "@azure/arm-azurestack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeRegistrationToken } from "../../src/bridge/token.js";
import { listen } from "../bridge-helpers.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";

/**
 * `Microsoft.AzureStack/registrations` and `customerSubscriptions` driven by the real Azure SDK
 * (`@azure/arm-azurestack` 2.1.1, plain HTTP), with the raw JSON checked too since SDKs are lenient.
 */
const REG_SUB = guid(0x5e9);
const RG = "azurestack";
const NAME = "AzureStack-cloud";
const CREDENTIAL = "tsk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
const T1 = guid(0x7e1);
const T2 = guid(0x7e2);
const CSP1 = guid(0xc51);
const CSP2 = guid(0xc52);
const CSP3 = "C5C5C5C5-AAAA-4BBB-8CCC-0000000000C3";

describe.each(DIALECTS)("Azure-compatible registration API on %s", (dialect) => {
  let t: TestApp;
  let az: AzureStackManagementClient;
  let base: string;
  const path = `/subscriptions/${REG_SUB}/resourceGroups/${RG}/providers/Microsoft.AzureStack/registrations/${NAME}`;
  const raw = (method: string, url: string, body?: unknown) =>
    t.app.inject({
      method: method as "GET",
      url,
      headers: t.op,
      ...(body === undefined ? {} : { payload: body as object }),
    });
  const errorOf = async (p: Promise<unknown>) => {
    const e = (await p.then(
      () => undefined,
      (x: unknown) => x,
    )) as { statusCode?: number; code?: string; body?: unknown } | undefined;
    return { status: e?.statusCode, code: e?.code };
  };

  beforeAll(async () => {
    t = await openTestApp(dialect);
    base = await listen(t.app);
    const creds = {
      signRequest: async (req: { headers: { set(k: string, v: string): void } }) => {
        req.headers.set("Authorization", t.op.authorization);
        return req;
      },
    };
    // biome-ignore lint/suspicious/noExplicitAny: the SDK's credential type wants a class instance
    az = new AzureStackManagementClient(creds as any, REG_SUB, { baseUri: base, noRetryPolicy: true });
  });
  afterAll(async () => t.cleanup());

  it("registers with a registration token and shows the registration without its credential", async () => {
    const token = encodeRegistrationToken({
      billingModel: "PayAsYouUse",
      upstreamUrl: "https://hub.example.com",
      upstreamCredential: CREDENTIAL,
    });
    const created = await az.registrations.createOrUpdate(RG, NAME, {
      registrationToken: token,
      location: "global",
    });
    expect(created._response.status).toBe(201);
    expect(created).toMatchObject({ name: NAME, location: "global", billingModel: "PayAsYouUse" });
    const body = JSON.parse(created._response.bodyAsText);
    expect(body).toMatchObject({
      id: path,
      name: NAME,
      type: "Microsoft.AzureStack/registrations",
      location: "global",
      properties: {
        billingModel: "PayAsYouUse",
        defaultSubscriptionId: REG_SUB,
        usageReportingEnabled: true,
        upstreamType: "Tally",
        upstreamUrl: "https://hub.example.com",
        upstreamCredentialSet: true,
        provisioningState: "Succeeded",
      },
    });
    expect(body.properties.cloudId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.properties.objectId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created._response.bodyAsText).not.toContain(CREDENTIAL);

    const got = await az.registrations.get(RG, NAME);
    expect(got.cloudId).toBe(body.properties.cloudId);
    expect(got._response.bodyAsText).not.toContain(CREDENTIAL);
    const list = await az.registrations.list(RG);
    expect(list.map((r) => r.name)).toEqual([NAME]);
    expect(await az.registrations.list("another-group")).toHaveLength(0);

    // The credential is stored sealed: not in the database in clear, not in the audit log.
    const row = await t.svc.store.db.selectFrom("registrations").selectAll().executeTakeFirstOrThrow();
    expect(row.upstream_credential).toMatch(/^v1\./);
    expect(row.upstream_credential).not.toContain(CREDENTIAL);
    expect(t.svc.secrets.open(row.upstream_credential!, row.object_id)).toBe(CREDENTIAL);
    const audit = (await raw("GET", "/api/v1/audit-log?action=registrations/write")).json().items;
    expect(audit[0]).toMatchObject({
      action: "registrations/write",
      target: `/registrations/${NAME}`,
      details: { op: "create", upstreamCredential: "set", billingModel: "PayAsYouUse" },
    });
    expect(JSON.stringify(audit)).not.toContain(CREDENTIAL);
  });

  it("updates (PATCH and PUT) and keeps the credential when it is not given again", async () => {
    const dev = await az.registrations.update(RG, NAME, {
      registrationToken: encodeRegistrationToken({ billingModel: "Development" }),
      location: "global",
    });
    expect(dev.billingModel).toBe("Development");
    const replaced = await raw("PUT", `${path}?api-version=2017-06-01`, {
      location: "global",
      properties: { billingModel: "PayAsYouUse", upstreamUrl: "https://hub.example.com" },
    });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json().properties).toMatchObject({
      billingModel: "PayAsYouUse",
      upstreamCredentialSet: true,
    });
    // Names and resource groups compare without case, as in ARM.
    const mixed = await raw(
      "GET",
      `/subscriptions/${REG_SUB.toUpperCase()}/resourceGroups/AzureStack/providers/Microsoft.AzureStack/registrations/azurestack-CLOUD?api-version=2017-06-01`,
    );
    expect(mixed.statusCode).toBe(200);
    expect(mixed.json().name).toBe(NAME);
    // So do the path's keywords: ARM matches resource types and namespaces without case.
    const lower = await raw(
      "GET",
      `/subscriptions/${REG_SUB}/resourcegroups/azurestack/providers/microsoft.azurestack/REGISTRATIONS/${NAME}?api-version=2017-06-01`,
    );
    expect(lower.statusCode).toBe(200);
    expect(lower.json().name).toBe(NAME);
    const list = await raw(
      "GET",
      `/subscriptions/${REG_SUB}/RESOURCEGROUPS/azurestack/providers/Microsoft.AzureStack/registrations/${NAME}/CUSTOMERSUBSCRIPTIONS?api-version=2017-06-01`,
    );
    expect(list.statusCode).toBe(200);
    expect(list.json()).toHaveProperty("value");
  });

  it("maps tenants to customer subscriptions: one per tenant, ids without case, PUT answering 200", async () => {
    const c1 = await az.customerSubscriptions.create(RG, NAME, CSP1, { tenantId: T1 });
    expect(c1._response.status).toBe(200);
    expect(JSON.parse(c1._response.bodyAsText)).toEqual({
      id: `${path}/customerSubscriptions/${CSP1}`,
      name: `${NAME}/${CSP1}`,
      type: "Microsoft.AzureStack/registrations/customerSubscriptions",
      properties: { tenantId: T1 },
    });
    // A second subscription for the same tenant replaces the first.
    await az.customerSubscriptions.create(RG, NAME, CSP2, { tenantId: T1 });
    let list = await az.customerSubscriptions.list(RG, NAME);
    expect(list.map((c) => [c.name, c.tenantId])).toEqual([[`${NAME}/${CSP2}`, T1]]);
    expect(await errorOf(az.customerSubscriptions.get(RG, NAME, CSP1))).toEqual({
      status: 404,
      code: "CustomerSubscriptionNotFound",
    });

    await az.customerSubscriptions.create(RG, NAME, CSP3, { tenantId: T2 });
    const lower = await az.customerSubscriptions.get(RG, NAME, CSP3.toLowerCase());
    expect(lower.name).toBe(`${NAME}/${CSP3}`);
    list = await az.customerSubscriptions.list(RG, NAME);
    expect(list).toHaveLength(2);
    const del = await az.customerSubscriptions.deleteMethod(RG, NAME, CSP3.toLowerCase());
    expect(del._response.status).toBe(200);
    expect(del._response.bodyAsText ?? "").toBe("");
    const again = await az.customerSubscriptions.deleteMethod(RG, NAME, CSP3);
    expect(again._response.status).toBe(204);
    expect(await az.customerSubscriptions.list(RG, NAME)).toHaveLength(1);

    const audit = (await raw("GET", "/api/v1/audit-log?target=/registrations/")).json().items;
    expect(
      audit.map((a: { action: string; details: { op: string } }) => `${a.action} ${a.details?.op}`),
    ).toEqual(expect.arrayContaining(["registrations/write create", "registrations/delete delete"]));
  });

  it("answers with the reference's error codes", async () => {
    const q = "?api-version=2017-06-01";
    const code = async (method: string, url: string, body?: unknown) => {
      const r = await raw(method, url, body);
      return [r.statusCode, r.json().error?.code];
    };
    expect(await code("GET", path)).toEqual([400, "NoApiVersion"]);
    expect(await code("GET", `${path}?api-version=2015-06-01-preview`)).toEqual([
      400,
      "InvalidApiVersionParameter",
    ]);
    const elsewhere = `/subscriptions/${guid(0x999)}/resourceGroups/${RG}/providers/Microsoft.AzureStack/registrations/${NAME}`;
    expect(await code("GET", `${elsewhere}${q}`)).toEqual([404, "RegistrationNotFound"]);
    expect(await code("GET", `${elsewhere}/customerSubscriptions${q}`)).toEqual([
      404,
      "RegistrationNotFound",
    ]);
    expect(
      await code("PUT", `${elsewhere}/customerSubscriptions/${CSP1}${q}`, { properties: { tenantId: T1 } }),
    ).toEqual([404, "RegistrationNotFound"]);
    expect(
      await code("PUT", `${path}/customerSubscriptions/cspsub1${q}`, { properties: { tenantId: T1 } }),
    ).toEqual([400, "InvalidCustomerSubscriptionId"]);
    const bodiless = await t.app.inject({
      method: "PUT",
      url: `${path}/customerSubscriptions/${CSP1}${q}`,
      headers: t.op,
    });
    expect(bodiless.statusCode).toBe(400);
    expect(bodiless.json().error).toMatchObject({
      code: "InvalidProperty",
      message: expect.stringMatching(/properties.tenantId is required/),
    });
    expect(await code("PUT", `${path}/customerSubscriptions/${CSP1}${q}`, {})).toEqual([
      400,
      "InvalidProperty",
    ]);
    expect(await code("GET", `${path}/customerSubscriptions/${CSP1}${q}`)).toEqual([
      404,
      "CustomerSubscriptionNotFound",
    ]);
    // A cloud has one registration.
    expect(
      await code("PUT", `${elsewhere}${q}`, {
        location: "global",
        properties: { billingModel: "Development", usageReportingEnabled: false },
      }),
    ).toEqual([409, "RegistrationAlreadyExists"]);
    expect(
      await code("PUT", `${path}${q}`, { location: "westus", properties: { billingModel: "PayAsYouUse" } }),
    ).toEqual([400, "LocationNotAvailableForResourceType"]);
    expect(await code("PATCH", `${path}${q}`, { properties: { usageReportingEnabled: false } })).toEqual([
      400,
      "InvalidProperty",
    ]);
    expect(await code("PATCH", `${path}${q}`, { properties: { registrationToken: "not a token" } })).toEqual([
      400,
      "InvalidRegistrationToken",
    ]);
    expect(
      await code("PATCH", `${path}${q}`, { properties: { upstreamUrl: "http://hub.example.com" } }),
    ).toEqual([400, "InvalidProperty"]);

    // Capacity: no customer subscriptions, and not while some exist.
    expect(await code("PATCH", `${path}${q}`, { properties: { billingModel: "Capacity" } })).toEqual([
      409,
      "CustomerSubscriptionsNotAllowed",
    ]);
    await az.customerSubscriptions.deleteMethod(RG, NAME, CSP2);
    const cap = await raw("PATCH", `${path}${q}`, {
      properties: { billingModel: "Capacity", usageReportingEnabled: false },
    });
    expect(cap.statusCode).toBe(200);
    expect(await errorOf(az.customerSubscriptions.create(RG, NAME, CSP1, { tenantId: T1 }))).toEqual({
      status: 403,
      code: "CustomerSubscriptionsNotAllowed",
    });
  });

  it("deletes the registration (200, then 204) and forgets its mappings", async () => {
    const first = await az.registrations.deleteMethod(RG, NAME);
    expect(first._response.status).toBe(200);
    const second = await az.registrations.deleteMethod(RG, NAME);
    expect(second._response.status).toBe(204);
    expect(await errorOf(az.registrations.get(RG, NAME))).toEqual({
      status: 404,
      code: "RegistrationNotFound",
    });
    expect(await az.registrations.list(RG)).toHaveLength(0);
    const rows = await t.svc.store.db.selectFrom("registration_customer_subscriptions").selectAll().execute();
    expect(rows).toEqual([]);
  });
});
