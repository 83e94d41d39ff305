import type { FastifyRequest } from "fastify";
import type { Principal } from "../auth/principal.js";
import { findPrincipal, recordPrincipal } from "../auth/repository.js";
import { type TokenIdentity, Unauthenticated } from "../auth/tokens.js";
import { DomainError } from "../domain/errors.js";
import { ROOT_CHAIN } from "../domain/scope.js";
import type { Services } from "../services.js";
import { hashApiKey, looksLikeApiKey } from "../sources/keys.js";
import { findSourceByKeyHash } from "../sources/repository.js";
import type { AccessMode, App, AuthMode } from "./types.js";

const PRINCIPAL_TTL_MS = 30_000;

function bearerOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^(Bearer|ApiKey)\s+(\S+)\s*$/i.exec(h);
  if (!m) throw new Unauthenticated("the Authorization header must be 'Bearer <token>'.", "invalid_request");
  return m[2];
}

/** A route as the access rules see it; `routesOf(app)` lists them (the access matrix test walks them). */
export interface RouteInfo {
  method: string;
  url: string;
  auth: AuthMode;
  access: AccessMode;
  action: string | undefined;
}

const ROUTES = new WeakMap<object, RouteInfo[]>();

export const routesOf = (app: App): readonly RouteInfo[] => ROUTES.get(app) ?? [];

/**
 * Every authenticated route must say what it does: refusing to register one without an action
 * turns a forgotten declaration into a start-up failure instead of an open door.
 */
function declareRoutePolicy(app: App): void {
  const table: RouteInfo[] = [];
  ROUTES.set(app, table);
  app.addHook("onRoute", (r) => {
    const cfg = (r.config ?? {}) as { auth?: AuthMode; access?: AccessMode; action?: string };
    const auth = cfg.auth ?? "bearer";
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    if (auth !== "none" && cfg.action === undefined)
      throw new Error(`route ${methods.join(",")} ${r.url} needs config.action`);
    for (const method of methods) {
      if (method === "HEAD") continue;
      table.push({ method, url: r.url, auth, access: cfg.access ?? "root", action: cfg.action });
    }
  });
}

/**
 * Authenticates every route that asks for it (routes declare `config.auth`; the default is a
 * bearer token) and, for operator-wide routes (`config.access` root, the default), checks the
 * declared action at `/`. Resource routes authorize in their handlers against the resource's
 * scope chain. Sources authenticate with their API key in `x-api-key` or as the bearer
 * credential, and only on source routes.
 */
export function registerAuth(app: App, svc: Services): void {
  declareRoutePolicy(app);
  const principals = new Map<string, { p: Principal; until: number }>();

  async function principalFor(id: TokenIdentity): Promise<Principal> {
    const now = svc.clock.now();
    const key = `${id.subject}|${id.directoryId ?? ""}`;
    const hit = principals.get(key);
    if (hit && hit.until > now) return hit.p;
    let row = await findPrincipal(svc.store.db, id.subject);
    if (!row) {
      const p = {
        id: id.subject,
        kind: id.kind,
        displayName: id.name ?? id.subject,
        directoryId: id.directoryId ?? null,
      };
      await recordPrincipal(svc.store.db, p, now);
      row = await findPrincipal(svc.store.db, id.subject);
    }
    const p: Principal = row
      ? {
          id: row.id,
          kind: row.kind,
          displayName: row.display_name,
          directoryId: id.directoryId ?? row.directory_id,
        }
      : {
          id: id.subject,
          kind: id.kind,
          displayName: id.name ?? id.subject,
          directoryId: id.directoryId ?? null,
        };
    if (principals.size > 10_000) principals.clear();
    principals.set(key, { p, until: now + PRINCIPAL_TTL_MS });
    return p;
  }

  async function sourceFor(key: string): Promise<Principal> {
    const src = await findSourceByKeyHash(svc.store.db, hashApiKey(key), svc.clock.now());
    if (!src) throw new Unauthenticated("the API key is not valid, expired or revoked.");
    return {
      id: src.id,
      kind: "source",
      displayName: src.name,
      directoryId: null,
      sourceSeq: Number(src.seq),
      sourceKind: src.kind,
    };
  }

  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (req) => {
    if (req.routeOptions.url === undefined) return; // unknown route: let the 404 handler answer
    const cfg = req.routeOptions.config;
    const mode = cfg.auth ?? "bearer";
    if (mode === "none") return;
    const headerKey = req.headers["x-api-key"];
    const credential = typeof headerKey === "string" ? headerKey : bearerOf(req);
    if (credential === undefined) throw new Unauthenticated("this endpoint needs a bearer token.", undefined);
    const action = cfg.action!;
    if (mode === "source") {
      if (!looksLikeApiKey(credential)) throw new Unauthenticated("this endpoint needs a source API key.");
      req.principal = await sourceFor(credential);
      if (!(await svc.access.can(req.principal, action, ROOT_CHAIN)))
        throw new DomainError("Forbidden", `a source may not perform '${action}'.`);
      return;
    }
    if (looksLikeApiKey(credential))
      throw new Unauthenticated("source API keys are accepted only for reporting usage.");
    req.principal = await principalFor(await svc.verifier.verify(credential));
    if ((cfg.access ?? "root") === "root") await svc.access.require(req.principal, action, ROOT_CHAIN);
  });
}

/** The authenticated principal of a route that requires one. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Unauthenticated("this endpoint needs a bearer token.", undefined);
  return req.principal;
}

export const actorOf = (req: FastifyRequest) => ({
  principalId: principalOf(req).id,
  requestId: String(req.id),
});
