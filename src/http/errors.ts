import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { DomainError, type ErrorCode, type FieldIssue, httpStatus } from "../domain/errors.js";
import { AzureError, sendAzureError } from "./azure-errors.js";
import type { App } from "./types.js";

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: FieldIssue[] } & Record<
    string,
    unknown
  >;
}

export function sendError(reply: FastifyReply, req: FastifyRequest, err: DomainError): FastifyReply {
  const body: ErrorBody = {
    error: {
      code: err.code,
      message: err.message,
      requestId: String(req.id),
      ...(err.details ? { details: err.details } : {}),
      ...(err.extra ?? {}),
    },
  };
  if (err.code === "Unauthenticated") {
    const reason = err.message.replaceAll('"', "'");
    void reply.header(
      "www-authenticate",
      `Bearer realm="tally", error="invalid_token", error_description="${reason}"`,
    );
  }
  return reply.status(httpStatus(err.code)).type("application/json; charset=utf-8").send(body);
}

const CONTEXT_PREFIX: Record<string, string> = { body: "", querystring: "", params: "", headers: "header." };

/** Turns anything thrown by a route, a hook or Fastify itself into one of tally's errors. */
export function toDomainError(err: unknown, req: FastifyRequest): DomainError {
  if (err instanceof DomainError) return err;
  const fe = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(fe)) {
    const prefix = CONTEXT_PREFIX[fe.validationContext ?? "body"] ?? "";
    const details = fe.validation.map((v) => {
      const path = v.instancePath.replace(/^\//, "").replaceAll("/", ".");
      const keys = (v.params as { keys?: unknown }).keys;
      const field = path || (Array.isArray(keys) ? keys.join(",") : "");
      return { field: field ? prefix + field : "(body)", reason: v.message ?? "is invalid" };
    });
    const first = details[0]!;
    return new DomainError("ValidationFailed", `${first.field}: ${first.reason}`, details);
  }
  switch (fe.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new DomainError("PayloadTooLarge", "the request body is larger than this endpoint accepts.");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new DomainError(
        "UnsupportedMediaType",
        `content type '${req.headers["content-type"] ?? ""}' is not accepted here.`,
      );
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new DomainError("InvalidRequest", "the request body is empty; a JSON document was expected.");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new DomainError("InvalidRequest", "the Content-Length header does not match the body.");
  }
  if (fe.statusCode === 400 && (err instanceof SyntaxError || fe.code === "FST_ERR_CTP_INVALID_JSON_BODY")) {
    return new DomainError("InvalidRequest", `the body is not valid JSON: ${fe.message}`);
  }
  if (fe.statusCode === 413) return new DomainError("PayloadTooLarge", fe.message);
  if (fe.statusCode === 415) return new DomainError("UnsupportedMediaType", fe.message);
  if (fe.statusCode === 400) return new DomainError("InvalidRequest", fe.message);
  if (fe.statusCode === 503)
    return new DomainError("ServiceUnavailable", "the server is shutting down or overloaded; retry.");
  return new DomainError(
    "InternalError",
    "an internal error occurred; quote the request id when reporting it.",
  );
}

export function registerErrorHandling(app: App): void {
  app.setErrorHandler((err, req, reply) => {
    const azure = req.routeOptions.config?.envelope === "azure";
    if (azure && err instanceof AzureError) return sendAzureError(reply, req, err);
    const de = toDomainError(err, req);
    if (de.code === "InternalError") req.log.error({ err }, "request failed");
    else if (httpStatus(de.code) >= 500) req.log.warn({ err }, "request refused");
    return azure ? sendAzureError(reply, req, de) : sendError(reply, req, de);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, req, new DomainError("NotFound", `no route ${req.method} ${req.url.split("?")[0]}.`)),
  );
}
