import { z } from "zod";
import { DomainError } from "../../domain/errors.js";
import type { Services } from "../../services.js";
import { errorBody } from "../schemas.js";
import type { App } from "../types.js";

const jwks = z.object({
  keys: z.array(z.looseObject({ kid: z.string().optional(), kty: z.string().optional() })),
});

/**
 * `/.well-known/jwks.json`: the public keys of tally's own signing keys (embedded mode), retired
 * ones included while tokens they signed can still be valid, so that other services can verify
 * tally's tokens. In OIDC mode tally signs nothing and there is nothing to publish.
 */
export function registerJwks(app: App, svc: Services): void {
  app.get(
    "/.well-known/jwks.json",
    {
      config: { auth: "none" },
      schema: { tags: ["access"], response: { 200: jwks, 404: errorBody } },
    },
    async (_req, reply) => {
      if (svc.config.authMode !== "embedded")
        throw new DomainError(
          "NotFound",
          "tally signs no tokens in oidc mode; use the identity provider's keys.",
        );
      // Short: after a rotation, verifiers must see the new key soon.
      void reply.header("cache-control", "public, max-age=60");
      return svc.tokens.publicKeys();
    },
  );
}
