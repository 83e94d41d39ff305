import { z } from "zod";
import { canonicalGuid } from "../domain/ids.js";

/** Shared pieces of route schemas. */
export const guid = (_what = "id") =>
  z
    .string()
    .refine((s) => canonicalGuid(s) !== undefined, { message: "must be a GUID" })
    .transform((s) => canonicalGuid(s)!);

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

export const displayName = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(256, "must be at most 256 characters")
  .refine((s) => !CONTROL.test(s), { message: "must not contain control characters" });

export const slug = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

export const pageQuery = {
  cursor: z.string().min(1).max(2048).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
};

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const errorBody = z.object({
  error: z.looseObject({
    code: z.string(),
    message: z.string(),
    requestId: z.string(),
    details: z
      .array(
        z.object({
          field: z.string(),
          reason: z.string(),
          index: z.number().optional(),
          line: z.number().optional(),
        }),
      )
      .optional(),
  }),
});

/** The error responses every authenticated route can give, for the OpenAPI document. */
export const commonErrors = { 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody } as const;

export const idParam = z.object({ id: z.string().min(1).max(128) });
