import { z } from "zod";
import { forbidden } from "../../auth/access.js";
import type { Principal } from "../../auth/principal.js";
import { ProviderTree, visibleProviders } from "../../auth/scoping.js";
import { invalid, notFound } from "../../domain/errors.js";
import { parseScope, ROOT_CHAIN, type ScopeChain } from "../../domain/scope.js";
import {
  createMarkup,
  deleteMarkup,
  getMarkupRow,
  listMarkups,
  parseMarkupScope,
  parsePercent,
  toMarkup,
  updateMarkup,
} from "../../rating/markups.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { withExactJson } from "../exact-json.js";
import { commonErrors, displayName, errorBody, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";
import { decimal } from "./price-sheets.js";

const markup = z.object({
  id: z.string(),
  scope: z.string(),
  percent: z.string(),
  description: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const params = z.object({ id: z.string().min(1).max(64) });
const tags = ["prices"];

/**
 * Where a markup is decided: a provider's markup by the provider itself or anyone above it
 * (prices/write on its chain), a billing account's by the operator (prices/write at `/`).
 */
async function chainOf(svc: Services, scope: string): Promise<ScopeChain | undefined> {
  const s = parseScope(scope);
  if (typeof s === "string") return undefined;
  if (s.kind === "billingAccount") return ROOT_CHAIN;
  if (s.kind !== "provider") return undefined;
  const tree = await ProviderTree.load(svc.store.db);
  return tree.has(s.providerId) ? tree.chain(s.providerId) : undefined;
}

async function requireOnMarkup(svc: Services, p: Principal, action: string, id: string) {
  const row = await getMarkupRow(svc, id);
  const chain = await chainOf(svc, row.scope);
  if (chain && (await svc.access.can(p, action, chain))) return row;
  if (chain && action !== "prices/read" && (await svc.access.can(p, "prices/read", chain)))
    throw forbidden(p, action);
  throw notFound("markup", id);
}

const percentField = decimal.transform((v, ctx) => {
  const d = parsePercent(v);
  if (typeof d === "string") {
    ctx.addIssue({ code: "custom", message: d });
    return z.NEVER;
  }
  return d;
});

/**
 * `/api/v1/markups`: a reseller's percentage on the price sheets (negative for a discount), at a
 * delegated provider (applied to the charges of its tenants on offers it resells) or a billing
 * account (applied to everything invoiced to it). See docs/rating.md.
 */
export function registerMarkups(app: App, svc: Services): void {
  withExactJson(app, (scope) => {
    scope.post(
      "/api/v1/markups",
      {
        config: { action: "prices/write", access: "resource" },
        schema: {
          tags,
          description:
            "Sets a markup (`percent`, e.g. 20 or -15) at `/providers/{id}` (needs prices/write at that provider) or `/billingAccounts/{id}` (needs prices/write at `/`). One markup per scope.",
          body: z.strictObject({
            scope: z.string().max(200),
            percent: percentField,
            description: displayName.optional(),
          }),
          response: { 201: markup, 409: errorBody, ...commonErrors },
        },
      },
      async (req, reply) => {
        const p = principalOf(req);
        const target = parseMarkupScope(req.body.scope);
        if (typeof target === "string") throw invalid("scope", target);
        const chain = await chainOf(svc, req.body.scope);
        if (!chain || !(await svc.access.can(p, "prices/write", chain))) {
          if (chain && (await svc.access.can(p, "prices/read", chain))) throw forbidden(p, "prices/write");
          if (target.kind === "provider")
            throw invalid("scope", `provider '${target.providerId}' does not exist`);
          throw forbidden(p, "prices/write");
        }
        return reply.status(201).send(await createMarkup(svc, actorOf(req), { ...req.body, scope: target }));
      },
    );

    scope.patch(
      "/api/v1/markups/:id",
      {
        config: { action: "prices/write", access: "resource" },
        schema: {
          tags,
          params,
          body: z
            .strictObject({
              percent: percentField.optional(),
              description: displayName.nullable().optional(),
            })
            .refine((b) => Object.keys(b).length > 0, { message: "give percent or description" }),
          response: { 200: markup, ...commonErrors },
        },
      },
      async (req) => {
        await requireOnMarkup(svc, principalOf(req), "prices/write", req.params.id);
        return updateMarkup(svc, actorOf(req), req.params.id, req.body);
      },
    );
  });

  app.get(
    "/api/v1/markups",
    {
      config: { action: "prices/read", access: "resource" },
      schema: {
        tags,
        description:
          "Lists the markups the caller may read: all at `/`; a provider's own and its resellers' to a provider's administrators.",
        querystring: z.object(pageQuery),
        response: { 200: page(markup), ...commonErrors },
      },
    },
    async (req) => {
      const visible = await visibleProviders(svc, principalOf(req), "prices/read");
      const scopes = visible === "all" ? "all" : visible.map((id) => `/providers/${id}`);
      return listMarkups(svc, req.query, scopes);
    },
  );

  app.get(
    "/api/v1/markups/:id",
    {
      config: { action: "prices/read", access: "resource" },
      schema: { tags, params, response: { 200: markup, ...commonErrors } },
    },
    async (req) => {
      return toMarkup(await requireOnMarkup(svc, principalOf(req), "prices/read", req.params.id));
    },
  );

  app.delete(
    "/api/v1/markups/:id",
    {
      config: { action: "prices/write", access: "resource" },
      schema: { tags, params, response: { 204: z.null(), ...commonErrors } },
    },
    async (req, reply) => {
      await requireOnMarkup(svc, principalOf(req), "prices/write", req.params.id);
      await deleteMarkup(svc, actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
