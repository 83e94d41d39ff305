/**
 * A refusal in the usage APIs' own vocabulary (reference §2.8): the HTTP status and Azure's error
 * code, which the route turns into the ARM envelope. Kept here, not in `http/`, so the query
 * rules can be written and tested without a server.
 */
export class UsageApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "UsageApiError";
  }
}

export const invalidProperty = (message: string) => new UsageApiError(400, "InvalidProperty", message);
