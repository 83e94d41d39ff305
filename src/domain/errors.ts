/**
 * The closed list of error codes tally answers with. Every failure a caller can see maps to one of
 * these; `httpStatus` is the single exhaustive mapping to HTTP.
 */
export type ErrorCode =
  | "InvalidRequest"
  | "ValidationFailed"
  | "InvalidCursor"
  | "WindowNotClosed"
  | "Unauthenticated"
  | "Forbidden"
  | "NotFound"
  | "MethodNotAllowed"
  | "AlreadyExists"
  | "Conflict"
  | "PayloadTooLarge"
  | "UnsupportedMediaType"
  | "TooManyRequests"
  | "ServiceUnavailable"
  | "InternalError";

export function httpStatus(code: ErrorCode): number {
  switch (code) {
    case "InvalidRequest":
    case "ValidationFailed":
    case "InvalidCursor":
    case "WindowNotClosed":
      return 400;
    case "Unauthenticated":
      return 401;
    case "Forbidden":
      return 403;
    case "NotFound":
      return 404;
    case "MethodNotAllowed":
      return 405;
    case "AlreadyExists":
    case "Conflict":
      return 409;
    case "PayloadTooLarge":
      return 413;
    case "UnsupportedMediaType":
      return 415;
    case "TooManyRequests":
      return 429;
    case "ServiceUnavailable":
      return 503;
    case "InternalError":
      return 500;
  }
}

/** One problem with one field of the input; `index` locates a record inside a batch. */
export interface FieldIssue {
  field: string;
  reason: string;
  index?: number;
  line?: number;
}

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: FieldIssue[] | undefined;
  /** Extra members merged into the error envelope (e.g. conflicting indexes). */
  readonly extra: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: FieldIssue[], extra?: Record<string, unknown>) {
    super(message);
    this.name = "DomainError";
    this.code = code;
    this.details = details;
    this.extra = extra;
  }
}

export const notFound = (what: string, id: string) =>
  new DomainError("NotFound", `${what} '${id}' was not found.`);

export const invalid = (field: string, reason: string) =>
  new DomainError("ValidationFailed", `${field}: ${reason}`, [{ field, reason }]);

export const conflict = (message: string) => new DomainError("Conflict", message);

/** A database serialization failure or deadlock: the operation may be retried as a whole. */
export class RetryableError extends DomainError {
  constructor(message: string) {
    super("ServiceUnavailable", message);
    this.name = "RetryableError";
  }
}
