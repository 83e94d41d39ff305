import { DomainError, RetryableError } from "../domain/errors.js";

/**
 * The one place where database driver errors become domain errors, for SQLite (better-sqlite3)
 * and PostgreSQL (pg) alike. Installed on every connection by `translatingDialect`, so callers
 * only ever see `ConstraintError`, `RetryableError` or the original error.
 */
export class ConstraintError extends DomainError {
  constructor(
    readonly kind: "unique" | "foreign_key" | "check" | "not_null",
    readonly constraint: string,
    message: string,
  ) {
    super(kind === "unique" ? "AlreadyExists" : "Conflict", message);
    this.name = "ConstraintError";
  }
}

interface DriverError {
  code?: unknown;
  message?: unknown;
  constraint?: unknown;
  detail?: unknown;
}

export function translateDbError(e: unknown): unknown {
  if (typeof e !== "object" || e === null || e instanceof DomainError) return e;
  const err = e as DriverError;
  const code = typeof err.code === "string" ? err.code : "";
  const message = typeof err.message === "string" ? err.message : "database error";
  // PostgreSQL SQLSTATE codes.
  switch (code) {
    case "23505":
      return new ConstraintError("unique", String(err.constraint ?? ""), String(err.detail ?? message));
    case "23503":
      return new ConstraintError("foreign_key", String(err.constraint ?? ""), String(err.detail ?? message));
    case "23514":
      return new ConstraintError("check", String(err.constraint ?? ""), message);
    case "23502":
      return new ConstraintError("not_null", String(err.constraint ?? ""), message);
    case "40001":
    case "40P01":
      return new RetryableError("The database could not serialize concurrent changes; retry the request.");
  }
  // better-sqlite3 extended result codes.
  if (code.startsWith("SQLITE_")) {
    if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
      const m = /constraint failed: (.*)$/.exec(message);
      return new ConstraintError("unique", m?.[1] ?? "", message);
    }
    if (code === "SQLITE_CONSTRAINT_FOREIGNKEY") return new ConstraintError("foreign_key", "", message);
    // A trigger's raise(abort): the invariants triggers guard (finalized invoices never change).
    if (code === "SQLITE_CONSTRAINT_TRIGGER") return new ConstraintError("check", "", message);
    if (code === "SQLITE_CONSTRAINT_CHECK") return new ConstraintError("check", "", message);
    if (code === "SQLITE_CONSTRAINT_NOTNULL") return new ConstraintError("not_null", "", message);
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || code.startsWith("SQLITE_BUSY_")) {
      return new RetryableError("The database is busy; retry the request.");
    }
  }
  return e;
}

export const isUniqueViolation = (e: unknown): e is ConstraintError =>
  e instanceof ConstraintError && e.kind === "unique";
