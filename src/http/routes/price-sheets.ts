import { z } from "zod";
import type { Principal } from "../../auth/principal.js";
import { DomainError, invalid, notFound } from "../../domain/errors.js";
import { parseInstant } from "../../domain/time.js";
import { offerVisible, requireOnOffer, visibleOffers } from "../../offers/access.js";
import { findOffer } from "../../offers/repository.js";
import {
  createPriceSheet,
  deletePriceSheet,
  diffPriceSheets,
  getPriceSheet,
  listPriceSheets,
} from "../../rating/price-sheets.js";
import { findPriceSheet } from "../../rating/repository.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { withExactJson } from "../exact-json.js";
import { commonErrors, errorBody, page, pageQuery } from "../schemas.js";
import type { App } from "../types.js";
import { offerIdSchema } from "./offers.js";

/** A decimal as a JSON number or string; numbers keep their exact digits (see exact-json.ts). */
export const decimal = z
  .union([z.string().max(64), z.number()])
  .transform((v) => String(v))
  .describe("a decimal number, as a JSON number or a string (exact either way)");

const rates = z
  .record(z.string().max(40), decimal)
  .describe('Azure\'s tier map: tier start quantity → unit price, e.g. {"0": "1.99", "100": "0.99"}');

const term = z
  .looseObject({ name: z.enum(["Monetary Credit", "Monetary Commitment", "Recurring Charge"]) })
  .describe(
    'An offer term: {"name": "Monetary Credit", "credit", "excludedMeterIds"}, {"name": "Monetary Commitment", "committedAmount", "tieredDiscount": {amount: percent}, "excludedMeterIds"} or {"name": "Recurring Charge", "recurringCharge"}; amounts per billing period.',
  );

const summaryFields = {
  id: z.string(),
  offerId: z.string(),
  currency: z.string(),
  effectiveDate: z.string(),
  effectiveUntil: z.string().nullable(),
  meterCount: z.number().int(),
  terms: z.array(z.record(z.string(), z.unknown())),
  createdAt: z.string(),
  createdBy: z.string(),
};
const summary = z.object(summaryFields);
const sheet = z.object({
  ...summaryFields,
  meters: z.array(
    z.object({
      meterId: z.string(),
      meterName: z.string(),
      unit: z.string(),
      category: z.string(),
      rates: z.record(z.string(), z.string()),
      includedQuantity: z.string(),
    }),
  ),
});
const meterJson = z.object({
  meterId: z.string(),
  rates: z.record(z.string(), z.string()),
  includedQuantity: z.string(),
});
const diff = z.object({
  base: summary.nullable(),
  target: summary,
  added: z.array(meterJson),
  removed: z.array(meterJson),
  changed: z.array(
    z.object({
      meterId: z.string(),
      before: meterJson,
      after: meterJson,
      tiers: z.array(
        z.object({ tier: z.string(), before: z.string().nullable(), after: z.string().nullable() }),
      ),
      includedQuantity: z.object({ before: z.string(), after: z.string() }).nullable(),
    }),
  ),
  unchanged: z.number().int(),
  terms: z.object({
    before: z.array(z.record(z.string(), z.unknown())),
    after: z.array(z.record(z.string(), z.unknown())),
    changed: z.boolean(),
  }),
});

export const instantQuery = z.string().transform((s, ctx) => {
  const t = parseInstant(s);
  if (typeof t === "string") {
    ctx.addIssue({ code: "custom", message: t });
    return z.NEVER;
  }
  return t;
});

const params = z.object({ id: z.string().min(1).max(64) });
const tags = ["prices"];

/** The price sheet, if the caller may read its offer's prices (404 otherwise, as if it did not exist). */
async function readableSheet(svc: Services, p: Principal, id: string) {
  const row = await findPriceSheet(svc.store.db, id);
  const offer = row ? await findOffer(svc.store.db, row.offer_id) : undefined;
  if (!row || !offer || !offerVisible(await visibleOffers(svc, p, "prices/read"), offer))
    throw notFound("price sheet", id);
  return row;
}

/**
 * `/api/v1/price-sheets`: versions of an offer's prices in a currency. A version applies from its
 * effective date (a UTC midnight) until the next version of the same offer and currency; versions
 * are immutable (one that has not come into force yet may be withdrawn). Reading follows the
 * offer's visibility; creating and withdrawing need prices/write at the offer's owning provider.
 */
export function registerPriceSheets(app: App, svc: Services): void {
  withExactJson(app, (scope) => {
    scope.post(
      "/api/v1/price-sheets",
      {
        // A version may price up to 10,000 meters: more than the default 1 MiB of JSON.
        bodyLimit: svc.config.ingestMaxBytes,
        config: { action: "prices/write", access: "resource" },
        schema: {
          tags,
          description:
            "Creates a version of an offer's price sheet. Prices, tier starts and amounts are exact decimals (JSON numbers keep their digits). Every problem is listed with its field path; nothing is saved unless the whole version is valid.",
          body: z.strictObject({
            offerId: offerIdSchema,
            currency: z.string().max(8),
            effectiveDate: z.string().max(40).describe("YYYY-MM-DD, or a date-time at UTC midnight"),
            meters: z
              .array(
                z.strictObject({ meterId: z.string().max(64), rates, includedQuantity: decimal.optional() }),
              )
              .max(10_000),
            terms: z.array(term).max(100).optional(),
          }),
          response: { 201: sheet, 409: errorBody, ...commonErrors },
        },
      },
      async (req, reply) => {
        const p = principalOf(req);
        try {
          await requireOnOffer(svc, p, "prices/write", req.body.offerId, {
            readAction: "prices/read",
            write: true,
          });
        } catch (e) {
          if (e instanceof DomainError && e.code === "NotFound")
            throw invalid("offerId", `offer '${req.body.offerId}' does not exist`);
          throw e;
        }
        return reply.status(201).send(await createPriceSheet(svc, actorOf(req), req.body));
      },
    );
  });

  app.get(
    "/api/v1/price-sheets",
    {
      config: { action: "prices/read", access: "resource" },
      schema: {
        tags,
        description:
          "Lists price sheet versions the caller may read, by offer, currency and effective date. `effectiveAt` keeps only the version of each offer and currency in force at that instant.",
        querystring: z.object({
          ...pageQuery,
          offerId: offerIdSchema.optional(),
          currency: z
            .string()
            .max(8)
            .transform((s) => s.toUpperCase())
            .optional(),
          effectiveAt: instantQuery.optional(),
        }),
        response: { 200: page(summary), ...commonErrors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      if (req.query.offerId !== undefined)
        await requireOnOffer(svc, p, "prices/read", req.query.offerId, {
          readAction: "prices/read",
          write: false,
        });
      return listPriceSheets(svc, req.query, await visibleOffers(svc, p, "prices/read"));
    },
  );

  app.get(
    "/api/v1/price-sheets/:id",
    {
      config: { action: "prices/read", access: "resource" },
      schema: { tags, params, response: { 200: sheet, ...commonErrors } },
    },
    async (req) => {
      await readableSheet(svc, principalOf(req), req.params.id);
      return getPriceSheet(svc, req.params.id);
    },
  );

  app.get(
    "/api/v1/price-sheets/:id/diff",
    {
      config: { action: "prices/read", access: "resource" },
      schema: {
        tags,
        description:
          "What changed from `base` (default: the version this one follows, of the same offer and currency) to this version: meters added, removed and changed (tier by tier, included quantity), and the terms.",
        params,
        querystring: z.object({ base: z.string().min(1).max(64).optional() }),
        response: { 200: diff, ...commonErrors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      await readableSheet(svc, p, req.params.id);
      const scope = await visibleOffers(svc, p, "prices/read");
      return diffPriceSheets(svc, req.params.id, req.query.base, async (offerId) => {
        const o = await findOffer(svc.store.db, offerId);
        return o !== undefined && offerVisible(scope, o);
      });
    },
  );

  app.delete(
    "/api/v1/price-sheets/:id",
    {
      config: { action: "prices/write", access: "resource" },
      schema: {
        tags,
        description:
          "Withdraws a version that has not come into force yet; one whose effective date has passed stays as history (409).",
        params,
        response: { 204: z.null(), 409: errorBody, ...commonErrors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const row = await readableSheet(svc, p, req.params.id);
      await requireOnOffer(svc, p, "prices/write", row.offer_id, { readAction: "prices/read", write: true });
      await deletePriceSheet(svc, actorOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
