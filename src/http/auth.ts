import type { FastifyRequest } from "fastify";
import { authorize, type Principal } from "../auth/principal.js";
import { Unauthenticated } from "../auth/tokens.js";
import type { Services } from "../services.js";
import { hashApiKey, looksLikeApiKey } from "../sources/keys.js";
import { findSourceByKeyHash } from "../sources/repository.js";
import type { App } from "./types.js";

const PRINCIPAL_TTL_MS = 30_000;

function bearerOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^(Bearer|ApiKey)\s+(\S+)\s*$/i.exec(h);
  if (!m) throw new Unauthenticated("the Authorization header must be 'Bearer <token>'.", "invalid_request");
  return m[2];
}

/**
 * Authenticates every route that asks for it (routes declare `config.auth`; the default is a
 * bearer token) and checks the action the route declares. Sources authenticate with their API key
 * in `x-api-key` or as the bearer credential.
 */
export function registerAuth(app: App, svc: Services): void {
  const principals = new Map<string, { p: Principal; until: number }>();

  async function principalFor(
    subject: string,
    directoryId: string | undefined,
    name: string | undefined,
  ): Promise<Principal> {
    const now = svc.clock.now();
    const key = `${subject}|${directoryId ?? ""}`;
    const hit = principals.get(key);
    if (hit && hit.until > now) return hit.p;
    const row = await svc.store.db
      .selectFrom("principals")
      .selectAll()
      .where("id", "=", subject)
      .executeTakeFirst();
    const p: Principal = row
      ? {
          id: row.id,
          kind: row.kind,
          displayName: row.display_name,
          directoryId: directoryId ?? row.directory_id,
        }
      : { id: subject, kind: "user", displayName: name ?? subject, directoryId: directoryId ?? null };
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
    };
  }

  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (req) => {
    if (req.routeOptions.url === undefined) return; // unknown route: let the 404 handler answer
    const mode = req.routeOptions.config.auth ?? "bearer";
    if (mode === "none") return;
    const headerKey = req.headers["x-api-key"];
    const credential = typeof headerKey === "string" ? headerKey : bearerOf(req);
    if (credential === undefined) throw new Unauthenticated("this endpoint needs a bearer token.", undefined);
    if (mode === "source") {
      if (!looksLikeApiKey(credential)) throw new Unauthenticated("this endpoint needs a source API key.");
      req.principal = await sourceFor(credential);
    } else {
      if (looksLikeApiKey(credential))
        throw new Unauthenticated("source API keys are accepted only for reporting usage.");
      const id = await svc.tokens.verify(credential);
      req.principal = await principalFor(id.subject, id.directoryId, id.name);
    }
    const action = req.routeOptions.config.action;
    if (action !== undefined) authorize(req.principal, action);
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
