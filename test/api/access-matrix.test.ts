import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedTokens } from "../../src/auth/tokens.js";
import type { ManualClock } from "../../src/clock.js";
import { routesOf } from "../../src/http/auth.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";

/**
 * Every route of the app against every kind of caller. A route added without an entry here fails
 * the first test, so that nobody ships an endpoint whose access rules were never looked at. Each
 * answer is also searched for other tenants' ids.
 */
const AUTHENTICATED = ["operator", "providerAdmin", "tenantOwner", "tenantReader", "billingReader"] as const;
const UNAUTHENTICATED = ["sourceKey", "noToken", "expired", "otherAudience"] as const;
type Who = (typeof AUTHENTICATED)[number] | (typeof UNAUTHENTICATED)[number];
const EVERYONE: readonly Who[] = [...AUTHENTICATED, ...UNAUTHENTICATED];

interface Req {
  method: string;
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}
interface Probe {
  name: string;
  req: (who: Who) => Req | Promise<Req>;
  /**
   * Statuses for the bearer principals. The others get 401 on every authenticated route, except
   * that a source route (`auth: "source"`) states what the source key gets in `sourceKey`; on
   * routes without authentication everyone gets the operator's status.
   */
  expect: Record<(typeof AUTHENTICATED)[number], number> & { sourceKey?: number };
}

const isBearer = (who: Who): who is (typeof AUTHENTICATED)[number] =>
  (AUTHENTICATED as readonly Who[]).includes(who);

function expectedStatus(probe: Probe, auth: string, who: Who): number {
  if (isBearer(who)) return probe.expect[who];
  if (auth === "none") return probe.expect.operator;
  if (who === "sourceKey" && auth === "source" && probe.expect.sourceKey !== undefined)
    return probe.expect.sourceKey;
  return 401;
}

const D1 = guid(0xd1);
const D2 = guid(0xd2);
const D3 = guid(0xd3);
const S1 = guid(0x51);
const S2 = guid(0x52);
const S3 = guid(0x53);
const P1 = "reseller-p1";
const REG = "matrix-reg";
const REG_SUB = guid(0x5e9);
const AZ = `/subscriptions/${REG_SUB}/resourceGroups/azurestack/providers/Microsoft.AzureStack/registrations`;

function usageRecord(id: string, sub: string, start: string, reported?: string) {
  return {
    id,
    subscriptionId: sub,
    meterId: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
    quantity: "2",
    usageStartTime: start,
    usageEndTime: new Date(Date.parse(start) + 3_600_000).toISOString(),
    resourceUri: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
    ...(reported ? { reportedTime: reported } : {}),
  };
}

const same = (n: number) => ({
  operator: n,
  providerAdmin: n,
  tenantOwner: n,
  tenantReader: n,
  billingReader: n,
});

describe.each(DIALECTS)("access matrix on %s", (dialect) => {
  let t: TestApp;
  let headers: Record<Who, Record<string, string>>;
  let PS1: string;
  let sourceId: string;
  let sourceKeyId: string;
  let defaultSheet: string;
  let p1Sheet: string;
  let p1Markup: string;
  let counter = 0x1000;
  const next = () => counter++;

  const as = async (who: Who, r: Req) =>
    t.app.inject({
      method: r.method as "GET",
      url: r.url,
      headers: { ...(who === "operator" ? t.op : headers[who]), ...r.headers },
      ...(r.body === undefined ? {} : { payload: r.body as object }),
    });
  const op = async (method: string, url: string, body?: unknown) => {
    const r = await as("operator", { method, url, body });
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.statusCode === 204 ? undefined : r.json();
  };
  const assign = (principalId: string, role: string, scope: string) =>
    op("POST", "/api/v1/role-assignments", { principalId, role, scope });

  // Fixtures for requests that succeed destructively: each gets its own target.
  const freshDirectory = async () =>
    (await op("POST", "/api/v1/directories", { id: guid(next()), displayName: "Fresh" })).id;
  const freshSubscription = async (providerId = P1) =>
    (await op("POST", "/api/v1/subscriptions", { displayName: "Fresh", directoryId: D1, providerId })).id;
  const freshProvider = async (parentId?: string) =>
    (await op("POST", "/api/v1/providers", { id: `fresh-${next()}`, displayName: "Fresh", parentId })).id;
  const freshSource = async () => (await op("POST", "/api/v1/sources", { name: `fresh-${next()}` })).id;
  const freshOffer = async () =>
    (
      await op("POST", "/api/v1/offers", {
        id: `fresh-offer-${next()}`,
        displayName: "Fresh",
        providerId: P1,
      })
    ).id;
  /** A UTC midnight no other probe uses, for a new price sheet version. */
  const freshDate = () => new Date(Date.UTC(2030, 0, 1) + next() * 86_400_000).toISOString().slice(0, 10);
  const version = (offerId: string, effectiveDate = freshDate()) => ({
    offerId,
    currency: "USD",
    effectiveDate,
    meters: [{ meterId: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5", rates: { "0": "0.01" } }],
  });
  const freshMarkup = async () => {
    const provider = await freshProvider(P1);
    return (await op("POST", "/api/v1/markups", { scope: `/providers/${provider}`, percent: 10 })).id;
  };
  const rateCard = (sub: string) =>
    `/subscriptions/${sub}/providers/Microsoft.Commerce/RateCard?api-version=2015-06-01-preview&$filter=${encodeURIComponent(
      "OfferDurableId eq 'default' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'",
    )}`;
  const freshAssignment = async (scope = `/subscriptions/${S1}`) =>
    (await assign(`fresh-principal-${next()}`, "Reader", scope)).id;
  /** The cloud's registration, created again when a probe deleted it. */
  const ensureRegistration = async () => {
    if ((await op("GET", "/api/v1/registrations")).items.length === 0)
      await op("POST", "/api/v1/registrations", {
        name: REG,
        billingModel: "PayAsYouUse",
        defaultSubscriptionId: REG_SUB,
        upstreamUrl: "https://hub.invalid",
        upstreamCredential: "tsk_matrix",
      });
  };
  const freshMapping = async () => {
    await ensureRegistration();
    const id = guid(next());
    await op("PUT", `/api/v1/registrations/${REG}/customer-subscriptions/${id}`, { tenantId: guid(next()) });
    return id;
  };
  const azure = (suffix = "") => `${AZ}${suffix}${suffix.includes("?") ? "&" : "?"}api-version=2017-06-01`;
  const withRegistration =
    (method: string, url: string | (() => string), body?: unknown) => async (): Promise<Req> => {
      await ensureRegistration();
      return { method, url: typeof url === "string" ? url : url(), ...(body === undefined ? {} : { body }) };
    };
  // Billing: b1 (the billing reader's account, a customer account of D4, whose S4 has no usage),
  // e1 (an enrollment with department d1), and fresh accounts for destructive probes.
  const D4 = guid(0xd4);
  const S4 = guid(0x54);
  let b1Invoice = "";
  const freshAccount = async () => {
    const dir = await freshDirectory();
    return (
      await op("POST", "/api/v1/billing-accounts", {
        id: `fresh-account-${next()}`,
        kind: "customer",
        displayName: "Fresh",
        currency: "USD",
        directoryId: dir,
        firstPeriod: "2026-10",
      })
    ).id as string;
  };
  const freshDraft = async () => {
    const id = await freshAccount();
    return {
      account: id,
      invoice: (await op("POST", `/api/v1/billing-accounts/${id}/periods/2026-10/close`)).id,
    };
  };
  const billing = (n: number, reader: number, others = 404) => ({
    operator: n,
    providerAdmin: others,
    tenantOwner: others,
    tenantReader: others,
    billingReader: reader,
  });

  const rootOnly = (n: number) => ({
    operator: n,
    providerAdmin: 403,
    tenantOwner: 403,
    tenantReader: 403,
    billingReader: 403,
  });

  beforeAll(async () => {
    t = await openTestApp(dialect);
    await op("POST", "/api/v1/directories", { id: D1, displayName: "Tenant One" });
    await op("POST", "/api/v1/directories", { id: D2, displayName: "Tenant Two" });
    await op("POST", "/api/v1/directories", { id: D3, displayName: "Tenant Three" });
    PS1 = (await op("POST", "/api/v1/providers", { id: P1, displayName: "Reseller One" })).subscriptionId;
    await op("POST", "/api/v1/subscriptions", { id: S1, displayName: "S1", directoryId: D1, providerId: P1 });
    await op("POST", "/api/v1/subscriptions", { id: S2, displayName: "S2", directoryId: D2 });
    await op("POST", "/api/v1/subscriptions", { id: S3, displayName: "S3", directoryId: D3, providerId: P1 });
    const src = await op("POST", "/api/v1/sources", { name: "rp-matrix" });
    sourceId = src.id;
    sourceKeyId = (await op("GET", `/api/v1/sources/${sourceId}`)).keys[0].id;

    // A day of history for every tenant (S2 is another operator tenant, PS1 the reseller's own).
    const history = [S1, S2, S3, PS1].map((sub, i) =>
      usageRecord(`hist-${i}`, sub, "2026-11-22T10:00:00Z", "2026-11-22T11:00:00Z"),
    );
    await op("POST", "/api/v1/usage-imports", history);

    await assign("p1-admin", "Owner", `/providers/${P1}`);
    await assign("t1-owner", "Owner", `/subscriptions/${S1}`);
    await assign("t1-reader", "Reader", `/subscriptions/${S1}`);
    await assign("b1-reader", "Billing account reader", "/billingAccounts/b1");
    await op("POST", "/api/v1/directories", { id: D4, displayName: "Tenant Four" });
    await op("POST", "/api/v1/subscriptions", { id: S4, displayName: "S4", directoryId: D4 });
    await op("POST", "/api/v1/billing-accounts", {
      id: "b1",
      kind: "customer",
      displayName: "B1",
      currency: "USD",
      directoryId: D4,
      firstPeriod: "2026-10",
    });
    b1Invoice = (await op("POST", "/api/v1/billing-accounts/b1/periods/2026-10/close")).id;
    await op("POST", "/api/v1/billing-accounts", {
      id: "e1",
      kind: "enrollment",
      displayName: "E1",
      currency: "USD",
    });
    await op("POST", "/api/v1/billing-accounts/e1/departments", { id: "d1", displayName: "D1" });

    // Rating: the default offer (S1, S2 and S3 are on it) and an offer of P1's, each priced.
    await op("POST", "/api/v1/offers", { id: "p1-offer", displayName: "P1's own", providerId: P1 });
    defaultSheet = (await op("POST", "/api/v1/price-sheets", version("default", "2026-01-01"))).id;
    p1Sheet = (await op("POST", "/api/v1/price-sheets", version("p1-offer", "2026-01-01"))).id;
    p1Markup = (await op("POST", "/api/v1/markups", { scope: `/providers/${P1}`, percent: 20 })).id;

    const sign = (subject: string, extra: { directoryId?: string } = {}) =>
      t.svc.tokens.sign({ subject, ttlMs: 3_600_000, ...extra });
    const clock = t.clock as ManualClock;
    clock.advance(-2 * 86_400_000);
    const expired = await sign("t1-owner", { directoryId: D1 });
    clock.advance(2 * 86_400_000);
    const otherAudience = await new EmbeddedTokens({
      dataDir: t.dataDir,
      issuer: t.config.tokenIssuer,
      audience: "another-service",
      clockSkewSec: 60,
      maxTokenAgeSec: 86_400,
      now: () => t.clock.now(),
    })
      .load()
      .then((e) => e.sign({ subject: t.svc.system.operatorPrincipalId, ttlMs: 3_600_000 }));
    const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });
    headers = {
      operator: t.op,
      providerAdmin: bearer(await sign("p1-admin")),
      tenantOwner: bearer(await sign("t1-owner", { directoryId: D1 })),
      tenantReader: bearer(await sign("t1-reader", { directoryId: D1 })),
      billingReader: bearer(await sign("b1-reader")),
      sourceKey: { "x-api-key": src.apiKey },
      noToken: {},
      expired: bearer(expired),
      otherAudience: bearer(otherAudience),
    };
  });
  afterAll(async () => t.cleanup());

  /** What each principal must never see: other tenants' (and, for tenants, the provider's) ids. */
  const foreign = (): Record<Who, string[]> => ({
    operator: [],
    providerAdmin: [S2, D2],
    tenantOwner: [S2, D2, S3, D3, PS1],
    tenantReader: [S2, D2, S3, D3, PS1],
    billingReader: [S1, S2, S3, D1, D2, D3, PS1],
    sourceKey: [S1, S2, S3, D1, D2, D3, PS1],
    noToken: [S1, S2, S3, D1, D2, D3, PS1],
    expired: [S1, S2, S3, D1, D2, D3, PS1],
    otherAudience: [S1, S2, S3, D1, D2, D3, PS1],
  });

  const get = (url: string | (() => string)) => () => ({
    method: "GET",
    url: typeof url === "string" ? url : url(),
  });

  /** The Azure usage APIs (tenant, operator, legacy operator path) over the closed day of history. */
  const azureUsageRoutes = (): Record<string, Probe[]> => {
    const q =
      "reportedStartTime=2026-11-22T00:00:00Z&reportedEndTime=2026-11-23T00:00:00Z&api-version=2015-06-01-preview";
    const root = () => t.svc.system.defaultProviderSubscriptionId;
    const operatorApi = (path: string): Probe[] => [
      {
        name: "the reseller's direct tenants",
        req: get(() => `/subscriptions/${PS1}/providers/${path}?${q}`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "the operator's direct tenants",
        req: get(() => `/subscriptions/${root()}/providers/${path}?${q}`),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "a tenant subscription is no provider subscription",
        req: get(`/subscriptions/${S1}/providers/${path}?${q}`),
        expect: same(404),
      },
    ];
    return {
      "GET /subscriptions/:subscriptionId/providers/Microsoft.Commerce/UsageAggregates": [
        {
          name: "own subscription",
          req: get(`/subscriptions/${S1}/providers/Microsoft.Commerce/UsageAggregates?${q}`),
          expect: {
            operator: 200,
            providerAdmin: 200,
            tenantOwner: 200,
            tenantReader: 200,
            billingReader: 404,
          },
        },
        {
          name: "another tenant's subscription",
          req: get(`/subscriptions/${S2}/providers/Microsoft.Commerce/UsageAggregates?${q}`),
          expect: {
            operator: 200,
            providerAdmin: 404,
            tenantOwner: 404,
            tenantReader: 404,
            billingReader: 404,
          },
        },
      ],
      "GET /subscriptions/:subscriptionId/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates":
        operatorApi("Microsoft.Commerce.Admin/subscriberUsageAggregates"),
      "GET /subscriptions/:subscriptionId/providers/Microsoft.Commerce/subscriberUsageAggregates":
        operatorApi("Microsoft.Commerce/subscriberUsageAggregates"),
    };
  };

  /** The matrix: route → probes. Requests are built per caller, creating fresh targets where a call is expected to destroy one. */
  /** Billing accounts, periods and invoices: billing roles at the account, everybody else 404. */
  const billingRoutes = (): Record<string, Probe[]> => ({
    "POST /api/v1/billing-accounts": [
      {
        name: "create a customer account",
        req: async () => ({
          method: "POST",
          url: "/api/v1/billing-accounts",
          body: {
            kind: "customer",
            displayName: "New",
            currency: "EUR",
            directoryId: await freshDirectory(),
          },
        }),
        expect: rootOnly(201),
      },
    ],
    "GET /api/v1/billing-accounts": [
      { name: "list", req: get("/api/v1/billing-accounts"), expect: same(200) },
    ],
    "GET /api/v1/billing-accounts/:id": [
      { name: "b1", req: get("/api/v1/billing-accounts/b1"), expect: billing(200, 200) },
      { name: "an enrollment", req: get("/api/v1/billing-accounts/e1"), expect: billing(200, 404) },
    ],
    "PATCH /api/v1/billing-accounts/:id": [
      {
        name: "rename b1",
        req: () => ({ method: "PATCH", url: "/api/v1/billing-accounts/b1", body: { displayName: "B1" } }),
        expect: billing(200, 403),
      },
    ],
    "GET /api/v1/billing-accounts/:id/departments": [
      { name: "e1's", req: get("/api/v1/billing-accounts/e1/departments"), expect: billing(200, 404) },
    ],
    "POST /api/v1/billing-accounts/:id/departments": [
      {
        name: "add to e1",
        req: () => ({
          method: "POST",
          url: "/api/v1/billing-accounts/e1/departments",
          body: { id: `dep-${next()}`, displayName: "Dep" },
        }),
        expect: billing(201, 404),
      },
    ],
    "GET /api/v1/billing-accounts/:id/enrollment-accounts": [
      {
        name: "e1's",
        req: get("/api/v1/billing-accounts/e1/enrollment-accounts"),
        expect: billing(200, 404),
      },
    ],
    "POST /api/v1/billing-accounts/:id/enrollment-accounts": [
      {
        name: "add to e1's d1",
        req: () => ({
          method: "POST",
          url: "/api/v1/billing-accounts/e1/enrollment-accounts",
          body: { id: `acc-${next()}`, departmentId: "d1", displayName: "Acc" },
        }),
        expect: billing(201, 404),
      },
    ],
    "GET /api/v1/billing-accounts/:id/subscriptions": [
      { name: "b1's", req: get("/api/v1/billing-accounts/b1/subscriptions"), expect: billing(200, 200) },
    ],
    "PUT /api/v1/billing-accounts/:id/subscriptions/:subscriptionId": [
      {
        name: "assign a subscription to b1",
        req: async () => ({
          method: "PUT",
          url: `/api/v1/billing-accounts/b1/subscriptions/${await freshSubscription()}`,
          body: {},
        }),
        expect: billing(200, 403),
      },
    ],
    "DELETE /api/v1/billing-accounts/:id/subscriptions/:subscriptionId": [
      {
        name: "unassign a subscription from b1",
        req: async () => {
          const sub = await freshSubscription();
          await op("PUT", `/api/v1/billing-accounts/b1/subscriptions/${sub}`, {});
          return { method: "DELETE", url: `/api/v1/billing-accounts/b1/subscriptions/${sub}` };
        },
        expect: billing(204, 403),
      },
    ],
    "GET /api/v1/subscriptions/:id/billing-account": [
      {
        name: "S1's",
        req: get(`/api/v1/subscriptions/${S1}/billing-account`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 200,
          billingReader: 404,
        },
      },
    ],
    "GET /api/v1/billing/unbilled-subscriptions": [
      { name: "all", req: get("/api/v1/billing/unbilled-subscriptions"), expect: rootOnly(200) },
    ],
    "GET /api/v1/billing-accounts/:id/periods": [
      { name: "b1's", req: get("/api/v1/billing-accounts/b1/periods?all=true"), expect: billing(200, 200) },
    ],
    "GET /api/v1/billing-accounts/:id/estimate": [
      { name: "b1's", req: get("/api/v1/billing-accounts/b1/estimate"), expect: billing(200, 200) },
    ],
    "POST /api/v1/billing-accounts/:id/periods/:period/close": [
      {
        name: "close October",
        req: async (who) => ({
          method: "POST",
          url: `/api/v1/billing-accounts/${who === "billingReader" ? "b1" : await freshAccount()}/periods/2026-10/close`,
        }),
        expect: billing(201, 403),
      },
    ],
    "GET /api/v1/billing-accounts/:id/invoices": [
      { name: "b1's", req: get("/api/v1/billing-accounts/b1/invoices"), expect: billing(200, 200) },
    ],
    "GET /api/v1/billing-accounts/:id/invoices/:invoiceId": [
      {
        name: "b1's October",
        req: get(() => `/api/v1/billing-accounts/b1/invoices/${b1Invoice}`),
        expect: billing(200, 200),
      },
    ],
    "GET /api/v1/billing-accounts/:accountId/invoices/:invoiceId(^[A-Za-z0-9_-]+).pdf": [
      {
        name: "b1's October as PDF",
        req: get(() => `/api/v1/billing-accounts/b1/invoices/${b1Invoice}.pdf`),
        expect: billing(200, 200),
      },
    ],
    "GET /api/v1/billing-accounts/:accountId/invoices/:invoiceId(^[A-Za-z0-9_-]+).csv": [
      {
        name: "b1's October as CSV",
        req: get(() => `/api/v1/billing-accounts/b1/invoices/${b1Invoice}.csv`),
        expect: billing(200, 200),
      },
    ],
    "GET /api/v1/billing-accounts/:accountId/usage-download": [
      {
        name: "b1's October, version 2",
        req: get("/api/v1/billing-accounts/b1/usage-download?period=2026-10&format=v2"),
        expect: billing(200, 200),
      },
      {
        name: "b1's month to date, usage and charges",
        req: get("/api/v1/billing-accounts/b1/usage-download?period=current&format=charges"),
        expect: billing(200, 200),
      },
    ],
    "POST /api/v1/billing-accounts/:id/invoices/:invoiceId/finalize": [
      {
        name: "finalize a draft",
        req: async (who) => {
          const d = who === "billingReader" ? { account: "b1", invoice: b1Invoice } : await freshDraft();
          return {
            method: "POST",
            url: `/api/v1/billing-accounts/${d.account}/invoices/${d.invoice}/finalize`,
          };
        },
        expect: billing(200, 403),
      },
    ],
    "DELETE /api/v1/billing-accounts/:id/invoices/:invoiceId": [
      {
        name: "discard a draft",
        req: async (who) => {
          const d = who === "billingReader" ? { account: "b1", invoice: b1Invoice } : await freshDraft();
          return { method: "DELETE", url: `/api/v1/billing-accounts/${d.account}/invoices/${d.invoice}` };
        },
        expect: billing(204, 403),
      },
    ],
  });

  const matrix = (): Record<string, Probe[]> => ({
    "GET /healthz": [{ name: "live", req: get("/healthz"), expect: same(200) }],
    "GET /readyz": [{ name: "ready", req: get("/readyz"), expect: same(200) }],
    "GET /metrics": [{ name: "metrics", req: get("/metrics"), expect: same(200) }],
    "GET /openapi.json": [{ name: "openapi", req: get("/openapi.json"), expect: same(200) }],
    "GET /.well-known/jwks.json": [{ name: "jwks", req: get("/.well-known/jwks.json"), expect: same(200) }],

    "POST /api/v1/directories": [
      {
        name: "register a directory",
        req: () => ({
          method: "POST",
          url: "/api/v1/directories",
          body: { id: guid(next()), displayName: "New" },
        }),
        expect: {
          operator: 201,
          providerAdmin: 201,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/directories": [
      { name: "list", req: get("/api/v1/directories?limit=1000"), expect: same(200) },
    ],
    "GET /api/v1/directories/:id": [
      {
        name: "own directory",
        req: get(`/api/v1/directories/${D1}`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 200,
          billingReader: 404,
        },
      },
      {
        name: "another tenant's directory",
        req: get(`/api/v1/directories/${D2}`),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "PATCH /api/v1/directories/:id": [
      {
        name: "rename own directory",
        req: () => ({
          method: "PATCH",
          url: `/api/v1/directories/${D1}`,
          body: { displayName: "Tenant One" },
        }),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 404,
        },
      },
      {
        name: "rename another tenant's directory",
        req: () => ({
          method: "PATCH",
          url: `/api/v1/directories/${D2}`,
          body: { displayName: "Tenant Two" },
        }),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "DELETE /api/v1/directories/:id": [
      {
        name: "delete a directory",
        req: async (who) => ({
          method: "DELETE",
          url: `/api/v1/directories/${who === "operator" ? await freshDirectory() : D1}`,
        }),
        expect: {
          operator: 204,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 404,
        },
      },
    ],

    "POST /api/v1/providers": [
      {
        name: "create below own provider",
        req: () => ({
          method: "POST",
          url: "/api/v1/providers",
          body: { id: `new-${next()}`, displayName: "New", parentId: P1 },
        }),
        expect: {
          operator: 201,
          providerAdmin: 201,
          tenantOwner: 400,
          tenantReader: 400,
          billingReader: 400,
        },
      },
      {
        name: "create below the root",
        req: () => ({
          method: "POST",
          url: "/api/v1/providers",
          body: { id: `new-${next()}`, displayName: "New" },
        }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/providers": [{ name: "list", req: get("/api/v1/providers?limit=1000"), expect: same(200) }],
    "GET /api/v1/providers/:id": [
      {
        name: "the delegated provider",
        req: get(`/api/v1/providers/${P1}`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "the root provider",
        req: get("/api/v1/providers/operator"),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "PATCH /api/v1/providers/:id": [
      {
        name: "rename the delegated provider",
        req: () => ({
          method: "PATCH",
          url: `/api/v1/providers/${P1}`,
          body: { displayName: "Reseller One" },
        }),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "DELETE /api/v1/providers/:id": [
      {
        name: "delete a provider below one's own",
        req: async (who) => ({
          method: "DELETE",
          url: `/api/v1/providers/${who === "operator" || who === "providerAdmin" ? await freshProvider(P1) : P1}`,
        }),
        expect: {
          operator: 204,
          providerAdmin: 204,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "delete one's own provider (the parent's decision)",
        req: () => ({ method: "DELETE", url: `/api/v1/providers/${P1}` }),
        // The operator would succeed only once P1 offers nothing; it offers S1, hence 409.
        expect: {
          operator: 409,
          providerAdmin: 403,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],

    "POST /api/v1/subscriptions": [
      {
        name: "offer a subscription as P1",
        req: () => ({
          method: "POST",
          url: "/api/v1/subscriptions",
          body: { displayName: "New", directoryId: D1, providerId: P1 },
        }),
        expect: {
          operator: 201,
          providerAdmin: 201,
          tenantOwner: 400,
          tenantReader: 400,
          billingReader: 400,
        },
      },
      {
        name: "offer a subscription as the operator",
        req: () => ({
          method: "POST",
          url: "/api/v1/subscriptions",
          body: { displayName: "New", directoryId: D1 },
        }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/subscriptions": [
      {
        name: "list",
        req: get("/api/v1/subscriptions?limit=1000&state=Active,Disabled,Deleted"),
        expect: same(200),
      },
    ],
    "GET /api/v1/subscriptions/:id": [
      {
        name: "S1",
        req: get(`/api/v1/subscriptions/${S1}`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 200,
          billingReader: 404,
        },
      },
      {
        name: "another tenant's subscription",
        req: get(`/api/v1/subscriptions/${S2}`),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "the provider's own provider subscription",
        req: get(() => `/api/v1/subscriptions/${PS1}`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "PATCH /api/v1/subscriptions/:id": [
      {
        name: "rename S1",
        req: () => ({ method: "PATCH", url: `/api/v1/subscriptions/${S1}`, body: { displayName: "S1" } }),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 403,
          billingReader: 404,
        },
      },
      {
        name: "change S1's state (the provider's decision)",
        req: () => ({ method: "PATCH", url: `/api/v1/subscriptions/${S1}`, body: { state: "Active" } }),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 404,
        },
      },
      {
        name: "rename the provider's own provider subscription (its parent's)",
        req: () => ({
          method: "PATCH",
          url: `/api/v1/subscriptions/${PS1}`,
          body: { displayName: "Reseller One (provider subscription)" },
        }),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "rename another tenant's subscription",
        req: () => ({ method: "PATCH", url: `/api/v1/subscriptions/${S2}`, body: { displayName: "S2" } }),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "DELETE /api/v1/subscriptions/:id": [
      {
        name: "delete a subscription",
        req: async (who) => ({
          method: "DELETE",
          url: `/api/v1/subscriptions/${who === "operator" || who === "providerAdmin" ? await freshSubscription() : S1}`,
        }),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 404,
        },
      },
    ],

    "POST /api/v1/sources": [
      {
        name: "register a source",
        req: () => ({ method: "POST", url: "/api/v1/sources", body: { name: `rp-${next()}` } }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/sources": [
      {
        name: "list",
        req: get("/api/v1/sources"),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/sources/:id": [
      {
        name: "get",
        req: get(() => `/api/v1/sources/${sourceId}`),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "POST /api/v1/sources/:id/keys": [
      {
        name: "rotate",
        req: async (who) => ({
          method: "POST",
          url: `/api/v1/sources/${who === "operator" ? await freshSource() : sourceId}/keys`,
          body: { grace: "0s" },
        }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "DELETE /api/v1/sources/:id/keys": [
      {
        name: "revoke all",
        req: async (who) => ({
          method: "DELETE",
          url: `/api/v1/sources/${who === "operator" ? await freshSource() : sourceId}/keys`,
        }),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "DELETE /api/v1/sources/:id/keys/:keyId": [
      {
        name: "revoke one",
        req: async (who) => {
          if (who !== "operator")
            return { method: "DELETE", url: `/api/v1/sources/${sourceId}/keys/${sourceKeyId}` };
          const id = await freshSource();
          const keyId = (await op("GET", `/api/v1/sources/${id}`)).keys[0].id;
          return { method: "DELETE", url: `/api/v1/sources/${id}/keys/${keyId}` };
        },
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "DELETE /api/v1/sources/:id": [
      {
        name: "delete",
        req: async (who) => ({
          method: "DELETE",
          url: `/api/v1/sources/${who === "operator" ? await freshSource() : sourceId}`,
        }),
        expect: {
          operator: 204,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],

    "GET /api/v1/meters": [{ name: "list", req: get("/api/v1/meters?limit=5"), expect: same(200) }],
    "GET /api/v1/meters/:id": [
      { name: "get", req: get("/api/v1/meters/FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5"), expect: same(200) },
    ],
    "POST /api/v1/meters": [
      {
        name: "add",
        req: () => ({
          method: "POST",
          url: "/api/v1/meters",
          body: { id: guid(next()), name: "Custom", unit: "hours", category: "Custom" },
        }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "PATCH /api/v1/meters/:id": [
      {
        name: "reinstate",
        req: () => ({
          method: "PATCH",
          url: "/api/v1/meters/FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
          body: { status: "current" },
        }),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],

    "POST /api/v1/role-assignments": [
      {
        name: "grant Reader on S1",
        req: () => ({
          method: "POST",
          url: "/api/v1/role-assignments",
          body: { principalId: `granted-${next()}`, role: "Reader", scope: `/subscriptions/${S1}` },
        }),
        // The billing reader cannot see S1, so for it S1 does not exist (400), like a typo.
        expect: {
          operator: 201,
          providerAdmin: 201,
          tenantOwner: 201,
          tenantReader: 403,
          billingReader: 400,
        },
      },
      {
        name: "grant on the billing account",
        req: () => ({
          method: "POST",
          url: "/api/v1/role-assignments",
          body: { principalId: `granted-${next()}`, role: "Invoice manager", scope: "/billingAccounts/b1" },
        }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/role-assignments": [
      { name: "list", req: get("/api/v1/role-assignments?limit=1000"), expect: same(200) },
    ],
    "DELETE /api/v1/role-assignments/:id": [
      {
        name: "revoke a Reader on S1",
        req: async () => ({ method: "DELETE", url: `/api/v1/role-assignments/${await freshAssignment()}` }),
        expect: {
          operator: 204,
          providerAdmin: 204,
          tenantOwner: 204,
          tenantReader: 403,
          billingReader: 404,
        },
      },
      {
        name: "revoke a Reader on another tenant's subscription",
        req: async () => ({
          method: "DELETE",
          url: `/api/v1/role-assignments/${await freshAssignment(`/subscriptions/${S2}`)}`,
        }),
        expect: {
          operator: 204,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "GET /api/v1/role-definitions": [
      { name: "list", req: get("/api/v1/role-definitions"), expect: same(200) },
    ],
    "GET /api/v1/enrollment-policies/:enrollmentId": [
      {
        name: "get",
        req: get("/api/v1/enrollment-policies/e1"),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "PATCH /api/v1/enrollment-policies/:enrollmentId": [
      {
        name: "set",
        req: () => ({
          method: "PATCH",
          url: "/api/v1/enrollment-policies/e1",
          body: { departmentAdminsCanViewCharges: true },
        }),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "POST /api/v1/usage-records": [
      {
        name: "report usage",
        req: () => ({
          method: "POST",
          url: "/api/v1/usage-records",
          body: [usageRecord(`live-${next()}`, S1, "2026-11-23T11:00:00Z")],
        }),
        // Bearer tokens are not source keys: the ingest route answers 401 to every one of them.
        expect: { ...same(401), sourceKey: 200 },
      },
    ],
    "GET /api/v1/usage": [
      {
        name: "a closed day, everything visible",
        req: get("/api/v1/usage?from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z&granularity=daily"),
        expect: same(200),
      },
      {
        name: "another tenant's subscription",
        req: get(
          `/api/v1/usage?from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z&granularity=daily&subscriptionId=${S2}`,
        ),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "the reseller's tenants",
        req: get(
          `/api/v1/usage?from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z&granularity=daily&providerId=${P1}`,
        ),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "POST /api/v1/usage-imports": [
      {
        name: "import history",
        req: () => ({
          method: "POST",
          url: "/api/v1/usage-imports",
          body: [usageRecord(`imp-${next()}`, S1, "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z")],
        }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/usage-imports/horizon": [
      {
        name: "import horizon",
        req: get("/api/v1/usage-imports/horizon"),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/usage-imports": [
      {
        name: "list imports",
        req: get("/api/v1/usage-imports"),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/registrations": [
      { name: "list", req: withRegistration("GET", "/api/v1/registrations"), expect: rootOnly(200) },
    ],
    "POST /api/v1/registrations": [
      {
        name: "register a second time",
        req: withRegistration("POST", "/api/v1/registrations", {
          name: "another",
          billingModel: "Development",
          defaultSubscriptionId: REG_SUB,
          usageReportingEnabled: false,
        }),
        expect: rootOnly(409),
      },
    ],
    "GET /api/v1/registrations/:name": [
      { name: "get", req: withRegistration("GET", `/api/v1/registrations/${REG}`), expect: rootOnly(200) },
    ],
    "PATCH /api/v1/registrations/:name": [
      {
        name: "change the billing model",
        req: withRegistration("PATCH", `/api/v1/registrations/${REG}`, { billingModel: "PayAsYouUse" }),
        expect: rootOnly(200),
      },
    ],
    "GET /api/v1/registrations/:name/customer-subscriptions": [
      {
        name: "list",
        req: withRegistration("GET", `/api/v1/registrations/${REG}/customer-subscriptions`),
        expect: rootOnly(200),
      },
    ],
    "PUT /api/v1/registrations/:name/customer-subscriptions/:id": [
      {
        name: "map a tenant",
        req: withRegistration(
          "PUT",
          () => `/api/v1/registrations/${REG}/customer-subscriptions/${guid(next())}`,
          {
            tenantId: D1,
          },
        ),
        expect: rootOnly(201),
      },
    ],
    "GET /api/v1/registrations/:name/customer-subscriptions/:id": [
      {
        name: "get",
        req: async () => ({
          method: "GET",
          url: `/api/v1/registrations/${REG}/customer-subscriptions/${await freshMapping()}`,
        }),
        expect: rootOnly(200),
      },
    ],
    "DELETE /api/v1/registrations/:name/customer-subscriptions/:id": [
      {
        name: "remove",
        req: async () => ({
          method: "DELETE",
          url: `/api/v1/registrations/${REG}/customer-subscriptions/${await freshMapping()}`,
        }),
        expect: rootOnly(204),
      },
    ],
    "DELETE /api/v1/registrations/:name": [
      {
        name: "delete",
        req: withRegistration("DELETE", `/api/v1/registrations/${REG}`),
        expect: rootOnly(204),
      },
    ],
    "GET /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations":
      [{ name: "list", req: withRegistration("GET", azure()), expect: rootOnly(200) }],
    "GET /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations/:registrationName":
      [{ name: "get", req: withRegistration("GET", azure(`/${REG}`)), expect: rootOnly(200) }],
    "PUT /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations/:registrationName":
      [
        {
          name: "replace",
          req: withRegistration("PUT", azure(`/${REG}`), {
            location: "global",
            properties: { billingModel: "PayAsYouUse", upstreamUrl: "https://hub.invalid" },
          }),
          expect: rootOnly(200),
        },
      ],
    "PATCH /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations/:registrationName":
      [
        {
          name: "update",
          req: withRegistration("PATCH", azure(`/${REG}`), { properties: { billingModel: "PayAsYouUse" } }),
          expect: rootOnly(200),
        },
      ],
    "DELETE /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations/:registrationName":
      [{ name: "delete", req: withRegistration("DELETE", azure(`/${REG}`)), expect: rootOnly(200) }],
    "GET /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations/:registrationName/customerSubscriptions":
      [
        {
          name: "list",
          req: withRegistration("GET", azure(`/${REG}/customerSubscriptions`)),
          expect: rootOnly(200),
        },
      ],
    "GET /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations/:registrationName/customerSubscriptions/:customerSubscriptionName":
      [
        {
          name: "get",
          req: async () => ({
            method: "GET",
            url: azure(`/${REG}/customerSubscriptions/${await freshMapping()}`),
          }),
          expect: rootOnly(200),
        },
      ],
    "PUT /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations/:registrationName/customerSubscriptions/:customerSubscriptionName":
      [
        {
          name: "map a tenant",
          req: withRegistration("PUT", () => azure(`/${REG}/customerSubscriptions/${guid(next())}`), {
            properties: { tenantId: D1 },
          }),
          expect: rootOnly(200),
        },
      ],
    "DELETE /subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.AzureStack/registrations/:registrationName/customerSubscriptions/:customerSubscriptionName":
      [
        {
          name: "remove",
          req: async () => ({
            method: "DELETE",
            url: azure(`/${REG}/customerSubscriptions/${await freshMapping()}`),
          }),
          expect: rootOnly(200),
        },
      ],
    "GET /api/v1/bridge/status": [
      { name: "status", req: withRegistration("GET", "/api/v1/bridge/status"), expect: rootOnly(200) },
    ],
    "POST /api/v1/bridge/remap": [
      {
        name: "nothing in flight",
        req: withRegistration("POST", "/api/v1/bridge/remap"),
        expect: rootOnly(409),
      },
    ],
    "POST /api/v1/bridge/run": [
      { name: "run", req: withRegistration("POST", "/api/v1/bridge/run"), expect: rootOnly(200) },
    ],
    "GET /api/v1/audit-log": [
      {
        name: "read",
        req: get("/api/v1/audit-log?limit=1000"),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "POST /api/v1/offers": [
      {
        name: "an operator offer",
        req: () => ({
          method: "POST",
          url: "/api/v1/offers",
          body: { id: `op-offer-${next()}`, displayName: "New" },
        }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
      {
        name: "an offer of P1",
        req: () => ({
          method: "POST",
          url: "/api/v1/offers",
          body: { id: `p1-offer-${next()}`, displayName: "New", providerId: P1 },
        }),
        expect: {
          operator: 201,
          providerAdmin: 201,
          tenantOwner: 400,
          tenantReader: 400,
          billingReader: 400,
        },
      },
    ],
    "GET /api/v1/offers": [{ name: "list", req: get("/api/v1/offers?limit=1000"), expect: same(200) }],
    "GET /api/v1/offers/:id": [
      {
        name: "the default offer (S1's)",
        req: get("/api/v1/offers/default"),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 200,
          billingReader: 404,
        },
      },
      {
        name: "P1's offer",
        req: get("/api/v1/offers/p1-offer"),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "PATCH /api/v1/offers/:id": [
      {
        name: "rename P1's offer",
        req: () => ({ method: "PATCH", url: "/api/v1/offers/p1-offer", body: { displayName: "P1's own" } }),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "rename the operator's default offer",
        req: () => ({
          method: "PATCH",
          url: "/api/v1/offers/default",
          body: { displayName: "Default offer" },
        }),
        expect: {
          operator: 200,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 404,
        },
      },
    ],
    "DELETE /api/v1/offers/:id": [
      {
        name: "delete an offer of P1",
        req: async (who) => ({
          method: "DELETE",
          url: `/api/v1/offers/${who === "operator" || who === "providerAdmin" ? await freshOffer() : "p1-offer"}`,
        }),
        expect: {
          operator: 204,
          providerAdmin: 204,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "POST /api/v1/price-sheets": [
      {
        name: "a version of P1's offer",
        req: () => ({ method: "POST", url: "/api/v1/price-sheets", body: version("p1-offer") }),
        expect: {
          operator: 201,
          providerAdmin: 201,
          tenantOwner: 400,
          tenantReader: 400,
          billingReader: 400,
        },
      },
      {
        name: "a version of the default offer",
        req: () => ({ method: "POST", url: "/api/v1/price-sheets", body: version("default") }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 400,
        },
      },
    ],
    "GET /api/v1/price-sheets": [
      { name: "list", req: get("/api/v1/price-sheets?limit=1000"), expect: same(200) },
    ],
    "GET /api/v1/price-sheets/:id": [
      {
        name: "the default offer's",
        req: get(() => `/api/v1/price-sheets/${defaultSheet}`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 200,
          billingReader: 404,
        },
      },
      {
        name: "P1's offer's",
        req: get(() => `/api/v1/price-sheets/${p1Sheet}`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "GET /api/v1/price-sheets/:id/diff": [
      {
        name: "the default offer's",
        req: get(() => `/api/v1/price-sheets/${defaultSheet}/diff`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 200,
          billingReader: 404,
        },
      },
    ],
    "DELETE /api/v1/price-sheets/:id": [
      {
        name: "withdraw a future version of P1's offer",
        req: async (who) => ({
          method: "DELETE",
          url: `/api/v1/price-sheets/${
            who === "operator" || who === "providerAdmin"
              ? (await op("POST", "/api/v1/price-sheets", version("p1-offer"))).id
              : p1Sheet
          }`,
        }),
        expect: {
          operator: 204,
          providerAdmin: 204,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "withdraw the default offer's version in force",
        req: () => ({ method: "DELETE", url: `/api/v1/price-sheets/${defaultSheet}` }),
        expect: {
          operator: 409,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 404,
        },
      },
    ],
    "POST /api/v1/price-sheets/import": [
      {
        name: "import a version of P1's offer",
        req: () => ({
          method: "POST",
          url: "/api/v1/price-sheets/import",
          headers: { "content-type": "text/csv" },
          body: `offerId,currency,effectiveDate,meterId,tierStart,unitPrice,includedQuantity\np1-offer,USD,${freshDate()},FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5,0,0.01,\n`,
        }),
        expect: {
          operator: 201,
          providerAdmin: 201,
          tenantOwner: 400,
          tenantReader: 400,
          billingReader: 400,
        },
      },
    ],
    "GET /api/v1/price-sheets/export": [
      { name: "export", req: get("/api/v1/price-sheets/export"), expect: same(200) },
    ],
    "POST /api/v1/markups": [
      {
        name: "mark up a reseller below P1",
        req: async (who) => ({
          method: "POST",
          url: "/api/v1/markups",
          body: {
            scope: `/providers/${who === "operator" || who === "providerAdmin" ? await freshProvider(P1) : P1}`,
            percent: 5,
          },
        }),
        expect: {
          operator: 201,
          providerAdmin: 201,
          tenantOwner: 400,
          tenantReader: 400,
          billingReader: 400,
        },
      },
      {
        name: "mark down a billing account",
        req: () => ({
          method: "POST",
          url: "/api/v1/markups",
          body: { scope: `/billingAccounts/ba-${next()}`, percent: -5 },
        }),
        expect: {
          operator: 201,
          providerAdmin: 403,
          tenantOwner: 403,
          tenantReader: 403,
          billingReader: 403,
        },
      },
    ],
    "GET /api/v1/markups": [{ name: "list", req: get("/api/v1/markups?limit=1000"), expect: same(200) }],
    "GET /api/v1/markups/:id": [
      {
        name: "P1's markup",
        req: get(() => `/api/v1/markups/${p1Markup}`),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "PATCH /api/v1/markups/:id": [
      {
        name: "change P1's markup",
        req: () => ({ method: "PATCH", url: `/api/v1/markups/${p1Markup}`, body: { percent: 20 } }),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "DELETE /api/v1/markups/:id": [
      {
        name: "remove a markup below P1",
        req: async (who) => ({
          method: "DELETE",
          url: `/api/v1/markups/${who === "operator" || who === "providerAdmin" ? await freshMarkup() : p1Markup}`,
        }),
        expect: {
          operator: 204,
          providerAdmin: 204,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "POST /api/v1/rate": [
      {
        name: "S1's usage",
        req: () => ({
          method: "POST",
          url: "/api/v1/rate",
          body: { subscriptionId: S1, from: "2026-11-22T00:00:00Z", to: "2026-11-23T00:00:00Z" },
        }),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 200,
          billingReader: 404,
        },
      },
      {
        name: "another tenant's usage",
        req: () => ({
          method: "POST",
          url: "/api/v1/rate",
          body: { subscriptionId: S2, from: "2026-11-22T00:00:00Z", to: "2026-11-23T00:00:00Z" },
        }),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
      {
        name: "hypothetical usage on P1's offer",
        req: () => ({
          method: "POST",
          url: "/api/v1/rate",
          body: {
            offerId: "p1-offer",
            quantities: [{ meterId: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5", quantity: 10 }],
          },
        }),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    "GET /subscriptions/:subscriptionId/providers/Microsoft.Commerce/RateCard": [
      {
        name: "S1's rate card",
        req: get(() => rateCard(S1)),
        expect: {
          operator: 200,
          providerAdmin: 200,
          tenantOwner: 200,
          tenantReader: 200,
          billingReader: 404,
        },
      },
      {
        name: "another tenant's rate card",
        req: get(() => rateCard(S2)),
        expect: {
          operator: 200,
          providerAdmin: 404,
          tenantOwner: 404,
          tenantReader: 404,
          billingReader: 404,
        },
      },
    ],
    ...azureUsageRoutes(),
    ...billingRoutes(),
  });

  it("has an entry for every route the app serves", () => {
    const served = routesOf(t.app).map((r) => `${r.method} ${r.url}`);
    const known = Object.keys(matrix());
    expect(served.filter((r) => !known.includes(r))).toEqual([]);
    expect(known.filter((r) => !served.includes(r))).toEqual([]);
    // Every authenticated route says what it does.
    expect(routesOf(t.app).filter((r) => r.auth !== "none" && r.action === undefined)).toEqual([]);
  });

  it("answers every caller on every route as the access rules say, and leaks no other tenant's ids", async () => {
    const routes = new Map(routesOf(t.app).map((r) => [`${r.method} ${r.url}`, r]));
    const failures: string[] = [];
    for (const [key, probes] of Object.entries(matrix())) {
      const route = routes.get(key);
      if (!route) continue; // reported by the test above
      for (const probe of probes) {
        for (const who of EVERYONE) {
          const expected = expectedStatus(probe, route.auth, who);
          const r = await probe.req(who);
          const res = await as(who, r);
          const where = `${key} [${probe.name}] as ${who}`;
          if (res.statusCode !== expected)
            failures.push(`${where}: ${res.statusCode}, expected ${expected}: ${res.body.slice(0, 200)}`);
          if (res.statusCode === 401 && !/^Bearer /.test(String(res.headers["www-authenticate"])))
            failures.push(`${where}: 401 without WWW-Authenticate`);
          if (res.statusCode >= 400 && res.json().error?.code === undefined)
            failures.push(`${where}: no error envelope`);
          const asked = `${r.url} ${JSON.stringify(r.body ?? null)}`;
          for (const id of foreign()[who]) {
            if (!asked.includes(id) && res.body.includes(id))
              failures.push(`${where}: the answer carries ${id}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it("shows each principal exactly its part of the lists", async () => {
    const ids = async (who: Who, url: string) =>
      ((await as(who, { method: "GET", url })).json().items as { id: string }[]).map((x) => x.id).sort();
    const subs = "/api/v1/subscriptions?limit=1000&state=Active,Disabled";
    expect(await ids("tenantOwner", subs)).toEqual([S1]);
    expect(await ids("tenantReader", subs)).toEqual([S1]);
    expect(await ids("billingReader", subs)).toEqual([]);
    const p1 = await ids("providerAdmin", subs);
    expect(p1).toEqual(expect.arrayContaining([S1, S3, PS1]));
    expect(p1).not.toContain(S2);
    expect(p1).not.toContain(t.svc.system.defaultProviderSubscriptionId);
    expect(await ids("tenantOwner", "/api/v1/directories")).toEqual([D1]);
    expect(await ids("providerAdmin", "/api/v1/directories?limit=1000")).toEqual(
      expect.arrayContaining([D1, D3, t.svc.system.operatorDirectoryId]),
    );
    expect(await ids("tenantOwner", "/api/v1/providers")).toEqual([]);
    expect(await ids("providerAdmin", "/api/v1/providers?limit=1000")).toContain(P1);
    expect(await ids("providerAdmin", "/api/v1/providers?limit=1000")).not.toContain("operator");
    const mine = (await as("tenantReader", { method: "GET", url: "/api/v1/role-assignments" })).json().items;
    expect(mine.every((a: { scope: string }) => a.scope === `/subscriptions/${S1}`)).toBe(true);
  });

  it("shows each principal exactly its part of the usage", async () => {
    const subs = async (who: Who) =>
      [
        ...new Set(
          (
            (
              await as(who, {
                method: "GET",
                url: "/api/v1/usage?from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z&granularity=daily",
              })
            ).json().items as { subscriptionId: string }[]
          ).map((i) => i.subscriptionId),
        ),
      ].sort();
    expect(await subs("operator")).toEqual([S1, S2, S3, PS1].sort());
    expect(await subs("providerAdmin")).toEqual([S1, S3, PS1].sort());
    expect(await subs("tenantOwner")).toEqual([S1]);
    expect(await subs("tenantReader")).toEqual([S1]);
    expect(await subs("billingReader")).toEqual([]);
  });

  it("shows each principal exactly its part of the usage through the Azure usage APIs", async () => {
    const q =
      "reportedStartTime=2026-11-22T00:00:00Z&reportedEndTime=2026-11-23T00:00:00Z&api-version=2015-06-01-preview";
    const subs = async (who: Who, sub: string, path: string) => {
      const r = await as(who, { method: "GET", url: `/subscriptions/${sub}/providers/${path}?${q}` });
      expect(r.statusCode).toBe(200);
      const items = JSON.parse(r.body).value as { properties: { subscriptionId: string } }[];
      return [...new Set(items.map((i) => i.properties.subscriptionId))].sort();
    };
    const admin = "Microsoft.Commerce.Admin/subscriberUsageAggregates";
    const root = t.svc.system.defaultProviderSubscriptionId;
    // Direct tenants only: the operator's are S2 and the reseller's own subscription; the reseller's are S1 and S3.
    expect(await subs("operator", root, admin)).toEqual([S2, PS1].sort());
    expect(await subs("operator", PS1, admin)).toEqual([S1, S3].sort());
    expect(await subs("providerAdmin", PS1, admin)).toEqual([S1, S3].sort());
    expect(await subs("tenantReader", S1, "Microsoft.Commerce/UsageAggregates")).toEqual([S1]);
    expect(await subs("providerAdmin", PS1, "Microsoft.Commerce/UsageAggregates")).toEqual([PS1]);
  });

  it("records principals seen in tokens with the directory they signed in from", async () => {
    const row = await t.svc.store.db
      .selectFrom("principals")
      .selectAll()
      .where("id", "=", "t1-owner")
      .executeTakeFirst();
    expect(row).toMatchObject({ kind: "user", directory_id: D1 });
  });
});
