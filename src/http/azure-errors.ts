import type { FastifyReply, FastifyRequest } from "fastify";
import { type DomainError, httpStatus } from "../domain/errors.js";

/**
 * Errors of the Azure-compatible routes (`config.envelope: "azure"`): the ARM envelope
 * `{"error":{"code","message"}}` with Azure's own codes (NoApiVersion, InvalidProperty,
 * RequestEndTimeIsInFuture, RegistrationNotFound, …), which Azure SDKs and PowerShell read.
 */
export class AzureError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "AzureError";
  }
}

/** tally's own error codes as ARM clients expect them, for failures that are not Azure-specific. */
function azureCodeOf(e: DomainError): string {
  switch (e.code) {
    case "InvalidRequest":
    case "ValidationFailed":
    case "InvalidCursor":
    case "WindowNotClosed":
      return "InvalidProperty";
    case "Unauthenticated":
      return "AuthenticationFailed";
    case "Forbidden":
      return "AuthorizationFailed";
    case "NotFound":
      return "ResourceNotFound";
    case "MethodNotAllowed":
      return "MethodNotAllowed";
    case "AlreadyExists":
    case "Conflict":
      return "Conflict";
    case "PayloadTooLarge":
      return "RequestEntityTooLarge";
    case "UnsupportedMediaType":
      return "UnsupportedMediaType";
    case "TooManyRequests":
      return "TooManyRequests";
    case "ServiceUnavailable":
      return "ServiceUnavailable";
    case "InternalError":
      return "InternalServerError";
  }
}

export function sendAzureError(
  reply: FastifyReply,
  req: FastifyRequest,
  err: AzureError | DomainError,
): FastifyReply {
  const status = err instanceof AzureError ? err.status : httpStatus(err.code);
  const code = err instanceof AzureError ? err.code : azureCodeOf(err);
  if (status === 401) {
    const reason = err.message.replaceAll('"', "'");
    void reply.header(
      "www-authenticate",
      `Bearer realm="tally", error="invalid_token", error_description="${reason}"`,
    );
  }
  if (status === 503 && !reply.hasHeader("retry-after")) void reply.header("retry-after", "5");
  void reply.header("x-ms-request-id", String(req.id));
  return reply
    .status(status)
    .type("application/json; charset=utf-8")
    .send({ error: { code, message: err.message } });
}
