import { z } from "zod";
import { BILLING_MODELS, UPSTREAM_TYPES } from "../domain/bridge.js";

/** Schema pieces shared by the native and the Azure-compatible registration routes. */
export const registrationName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,89}$/,
    "must be 1-90 letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

/** ARM resource group names: 1-90 letters, digits, '.', '_', '-', '(', ')', not ending in '.'. */
export const resourceGroupName = z
  .string()
  .regex(
    /^[-\w.()]{0,89}[-\w()]$/u,
    "must be 1-90 letters, digits, '.', '_', '-', '(' or ')', not ending in '.'",
  );

export const billingModel = z.enum(BILLING_MODELS);
export const upstreamType = z.enum(UPSTREAM_TYPES);
export const upstreamUrl = z.string().min(1).max(2048);
export const upstreamCredential = z.string().min(1, "must not be empty").max(4096);
export const tags = z.record(z.string().min(1).max(512), z.string().max(256));

export const registrationProperties = {
  billingModel,
  defaultSubscriptionId: z.string().max(64),
  usageReportingEnabled: z.boolean(),
  upstreamType,
  upstreamUrl,
  upstreamCredentialSet: z.boolean(),
};
