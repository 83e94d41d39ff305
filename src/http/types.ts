import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Action, Principal } from "../auth/principal.js";

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** How a route authenticates its caller. */
export type AuthMode = "none" | "bearer" | "source";

/**
 * Where a bearer route's action is authorized: `root`, before the handler, at `/` (operator-wide
 * routes); `resource`, in the handler against the resource's scope chain, with collections scoped
 * in the repository; `authenticated`, any authenticated principal (public catalogue data).
 */
export type AccessMode = "root" | "resource" | "authenticated";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Default: bearer. */
    auth?: AuthMode;
    /** The action the caller must be allowed to perform; every authenticated route declares one. */
    action?: Action;
    /** Default: root. */
    access?: AccessMode;
    /** `azure`: errors use the ARM envelope and Azure's codes (see azure-errors.ts). Default: tally's. */
    envelope?: "tally" | "azure";
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}
