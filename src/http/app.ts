import { randomUUID } from "node:crypto";
import swagger from "@fastify/swagger";
import Fastify, { LogController } from "fastify";
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import secureJson from "secure-json-parse";
import type { BillingDocumentSource } from "../billing/ports.js";
import { DomainError } from "../domain/errors.js";
import type { Services } from "../services.js";
import { registerAuth } from "./auth.js";
import { canonicalAzurePath } from "./azure-paths.js";
import { registerErrorHandling } from "./errors.js";
import { registerMetrics } from "./metrics.js";
import { registerRoutes } from "./routes.js";
import type { App } from "./types.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface AppOptions {
  /** HTTPS options for `listen` (serve only). */
  https?: { key: Buffer; cert: Buffer };
  /** Where the billing downloads get their documents (default: the billing core; tests give fixtures). */
  billingDocuments?: BillingDocumentSource;
}

/** Builds the whole HTTP application without listening; `serve` listens, tests use `inject`. */
export async function buildApp(svc: Services, opts: AppOptions = {}): Promise<App> {
  const app = Fastify({
    loggerInstance: svc.logger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "requestId" }),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    // Usage-API paths match case-insensitively on namespace and type, as ARM's do.
    rewriteUrl: (req) => canonicalAzurePath(req.url ?? "/"),
    // X-Forwarded-Proto/-Host/-For are believed only from these addresses (links, client address).
    trustProxy: svc.config.trustedProxies ?? false,
    bodyLimit: 1024 * 1024,
    ...(opts.https ? { https: opts.https } : {}),
  }).withTypeProvider<ZodTypeProvider>() as unknown as App;

  // JSON bodies: parsed with prototype-poisoning protection, and a syntax error says where it is.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    // Azure SDKs send a JSON content type on every request, DELETE included, with no body.
    if (body === "" && (req.method === "DELETE" || req.method === "GET")) {
      done(null, undefined);
      return;
    }
    try {
      done(null, secureJson.parse(body as string, { protoAction: "error", constructorAction: "error" }));
    } catch (e) {
      done(
        new DomainError("InvalidRequest", `the body is not valid JSON: ${(e as Error).message}`),
        undefined,
      );
    }
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.addHook("onRequest", async (req, reply) => {
    void reply.header("x-request-id", req.id);
  });
  app.addHook("onResponse", async (req, reply) => {
    req.log.info(
      {
        method: req.method,
        url: req.url.split("?")[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      "request completed",
    );
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "tally",
        version: "1",
        description: "Usage metering, rating and chargeback for private and hybrid clouds.",
      },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
          apiKey: { type: "apiKey", in: "header", name: "x-api-key" },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  registerErrorHandling(app);
  registerAuth(app, svc);
  registerMetrics(app, svc.metrics);
  registerRoutes(app, svc, opts.billingDocuments);
  app.get("/openapi.json", { config: { auth: "none" }, schema: { hide: true } }, async () => app.swagger());
  return app;
}
