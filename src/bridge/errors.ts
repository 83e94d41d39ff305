import { DomainError, type ErrorCode, type FieldIssue } from "../domain/errors.js";

/**
 * Registration failures that Azure names with codes of their own (reference §7.4). Native routes
 * answer them with tally's code; the Azure-compatible routes with the Azure code and status.
 */
export type RegistrationErrorCode =
  | "RegistrationNotFound"
  | "RegistrationAlreadyExists"
  | "CustomerSubscriptionNotFound"
  | "CustomerSubscriptionsNotAllowed"
  | "InvalidCustomerSubscriptionId"
  | "InvalidSubscriptionId"
  | "InvalidRegistrationToken";

const NATIVE: Record<RegistrationErrorCode, { code: ErrorCode; azureStatus: number }> = {
  RegistrationNotFound: { code: "NotFound", azureStatus: 404 },
  RegistrationAlreadyExists: { code: "AlreadyExists", azureStatus: 409 },
  CustomerSubscriptionNotFound: { code: "NotFound", azureStatus: 404 },
  CustomerSubscriptionsNotAllowed: { code: "Conflict", azureStatus: 403 },
  InvalidCustomerSubscriptionId: { code: "ValidationFailed", azureStatus: 400 },
  InvalidSubscriptionId: { code: "ValidationFailed", azureStatus: 400 },
  InvalidRegistrationToken: { code: "ValidationFailed", azureStatus: 400 },
};

export class RegistrationError extends DomainError {
  readonly azureStatus: number;

  constructor(
    readonly azureCode: RegistrationErrorCode,
    message: string,
    opts: { details?: FieldIssue[]; azureStatus?: number } = {},
  ) {
    super(NATIVE[azureCode].code, message, opts.details);
    this.name = "RegistrationError";
    this.azureStatus = opts.azureStatus ?? NATIVE[azureCode].azureStatus;
  }
}
