import { z } from "zod";
import { getEnrollmentPolicy, setEnrollmentPolicy } from "../../auth/policies.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { commonErrors } from "../schemas.js";
import type { App } from "../types.js";

const policy = z.object({
  enrollmentId: z.string(),
  departmentAdminsCanViewCharges: z.boolean(),
  accountOwnersCanViewCharges: z.boolean(),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
});
const params = z.object({
  enrollmentId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "must be 1-128 letters, digits, '.', '_', ':' or '-'"),
});
const tags = ["access"];

/**
 * `/api/v1/enrollment-policies/{enrollmentId}`: whether an enterprise enrollment's department
 * administrators and account owners may see charges. Enterprise administrators manage them.
 * Enrollments are not entities yet (billing issue): any well-formed id has a policy, off by default.
 */
export function registerEnrollmentPolicies(app: App, svc: Services): void {
  app.get(
    "/api/v1/enrollment-policies/:enrollmentId",
    {
      config: { action: "enrollmentPolicies/read", access: "resource" },
      schema: { tags, params, response: { 200: policy, ...commonErrors } },
    },
    async (req) => getEnrollmentPolicy(svc, principalOf(req), req.params.enrollmentId),
  );

  app.patch(
    "/api/v1/enrollment-policies/:enrollmentId",
    {
      config: { action: "enrollmentPolicies/write", access: "resource" },
      schema: {
        tags,
        params,
        body: z
          .strictObject({
            departmentAdminsCanViewCharges: z.boolean().optional(),
            accountOwnersCanViewCharges: z.boolean().optional(),
          })
          .refine((b) => Object.keys(b).length > 0, { message: "give at least one policy to change" }),
        response: { 200: policy, ...commonErrors },
      },
    },
    async (req) =>
      setEnrollmentPolicy(svc, principalOf(req), actorOf(req), req.params.enrollmentId, req.body),
  );
}
