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

declare module "fastify" {
  interface FastifyContextConfig {
    /** Default: bearer. */
    auth?: AuthMode;
    /** The action the caller must be allowed to perform. */
    action?: Action;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}
