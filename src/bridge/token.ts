import { z } from "zod";
import { BILLING_MODELS, UPSTREAM_TYPES } from "../domain/bridge.js";
import { RegistrationError } from "./errors.js";
import type { RegistrationInput } from "./registration.js";

/**
 * Registration tokens: the registration's properties as base64 JSON, so that clients that can
 * only send `properties.registrationToken` (the Azure SDK's `registrations.createOrUpdate`, as
 * `Set-AzsRegistration` does with the token `Get-AzsRegistrationToken` makes) can register. A
 * token that carries `upstreamCredential` is as secret as the credential.
 */
const tokenSchema = z.strictObject({
  billingModel: z.enum(BILLING_MODELS).optional(),
  defaultSubscriptionId: z.string().optional(),
  usageReportingEnabled: z.boolean().optional(),
  upstreamType: z.enum(UPSTREAM_TYPES).optional(),
  upstreamUrl: z.string().max(2048).nullable().optional(),
  upstreamCredential: z.string().min(1).max(4096).nullable().optional(),
});

export type TokenProperties = z.infer<typeof tokenSchema>;

export function encodeRegistrationToken(p: TokenProperties): string {
  return Buffer.from(JSON.stringify(tokenSchema.parse(p))).toString("base64");
}

export function decodeRegistrationToken(token: string): RegistrationInput {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token.trim(), "base64").toString("utf8"));
  } catch {
    throw new RegistrationError("InvalidRegistrationToken", "the registration token is not base64 JSON.");
  }
  const r = tokenSchema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new RegistrationError(
      "InvalidRegistrationToken",
      `the registration token is not valid: ${i.path.join(".") || "(token)"}: ${i.message}`,
    );
  }
  const out: RegistrationInput = {};
  for (const [k, v] of Object.entries(r.data)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
