import { z } from "zod";
import { forbidden } from "../../auth/access.js";
import { canViewCharges, ProviderTree, requireOnSubscription } from "../../auth/scoping.js";
import { DomainError, invalid } from "../../domain/errors.js";
import { parseInstant } from "../../domain/time.js";
import { requireOnOffer } from "../../offers/access.js";
import { findOffer } from "../../offers/repository.js";
import { markupFor } from "../../rating/markups.js";
import { rateQuantities, rateSubscriptionUsage } from "../../rating/rate.js";
import type { Services } from "../../services.js";
import { principalOf } from "../auth.js";
import { withExactJson } from "../exact-json.js";
import { commonErrors, guid } from "../schemas.js";
import type { App } from "../types.js";
import { offerIdSchema } from "./offers.js";
import { decimal } from "./price-sheets.js";

const instant = z.string().transform((s, ctx) => {
  const t = parseInstant(s);
  if (typeof t === "string") {
    ctx.addIssue({ code: "custom", message: t });
    return z.NEVER;
  }
  return t;
});

const body = z.strictObject({
  offerId: offerIdSchema.optional().describe("price with this offer (hypothetical quantities)"),
  subscriptionId: guid("subscriptionId")
    .optional()
    .describe("price with this subscription's offer and markup; with from/to, rate its usage"),
  currency: z.string().max(8).optional().describe("default: the offer's only currency"),
  quantities: z
    .array(z.strictObject({ meterId: z.string().max(64), quantity: decimal }))
    .min(1)
    .max(1000)
    .optional()
    .describe("hypothetical usage, as the only usage of the billing period containing `at`"),
  at: instant.optional().describe("when the hypothetical usage happens (default: now)"),
  applyTerms: z.boolean().default(true).describe("hypothetical usage: apply the period's offer terms"),
  from: instant.optional().describe("usage window start (UTC midnight, usage time)"),
  to: instant.optional().describe("usage window end, exclusive (UTC midnight)"),
});

const period = z.object({
  periodStart: z.string(),
  periodEnd: z.string(),
  chargedFrom: z.string(),
  chargedUntil: z.string(),
  termsApplied: z.boolean(),
  termsPriceSheetId: z.string().nullable(),
  lines: z.array(z.record(z.string(), z.unknown())),
  unpriced: z.array(z.record(z.string(), z.unknown())),
  adjustments: z.array(z.record(z.string(), z.unknown())),
  usageAmount: z.string(),
  adjustmentsAmount: z.string(),
  total: z.string(),
});
const answer = z.object({
  offerId: z.string(),
  currency: z.string(),
  subscriptionId: z.string().nullable(),
  markup: z.object({ scope: z.string(), percent: z.string() }).nullable(),
  rounding: z.string(),
  usageClosedUntil: z.string().nullable(),
  periods: z.array(period),
  total: z.string(),
  complete: z.boolean(),
});

const DESCRIPTION = `Previews charges. Either hypothetical \`quantities\` priced with \`offerId\` (or a subscription's offer
and markup), as the only usage of the billing period containing \`at\`; or a subscription's usage in the usage-time
window [\`from\`, \`to\`) (UTC midnights), period by period, tiers and included quantities counted from each period's
start, the period's terms applied when the window covers it whole. Amounts are rounded per line to the currency's
minor units. Usage without a price is listed under \`unpriced\` and left out of the totals (\`complete: false\`).`;

/** `POST /api/v1/rate`: charge previews, for hypothetical quantities or a subscription's usage. */
export function registerRate(app: App, svc: Services): void {
  withExactJson(app, (scope) => {
    scope.post(
      "/api/v1/rate",
      {
        config: { action: "rates/read", access: "resource" },
        schema: {
          tags: ["prices"],
          description: DESCRIPTION,
          body,
          response: { 200: answer, ...commonErrors },
        },
      },
      async (req) => {
        const p = principalOf(req);
        const b = req.body;
        const window = b.from !== undefined || b.to !== undefined;
        if (b.quantities !== undefined && window)
          throw new DomainError(
            "InvalidRequest",
            "give either quantities or a usage window (from, to), not both.",
          );
        if (b.quantities === undefined && !window)
          throw new DomainError(
            "InvalidRequest",
            "give quantities to price, or a subscription's usage window (from, to).",
          );
        if (window && (b.from === undefined || b.to === undefined))
          throw invalid(b.from === undefined ? "from" : "to", "is required for a usage window");
        if (window && b.subscriptionId === undefined)
          throw invalid("subscriptionId", "is required to rate usage: whose usage?");

        if (b.subscriptionId !== undefined) {
          const sub = await requireOnSubscription(svc, p, "rates/read", b.subscriptionId);
          const tree = await ProviderTree.load(svc.store.db);
          if (!(await canViewCharges(svc, p, tree.subscriptionChain(sub))))
            throw forbidden(p, "charges/read");
          if (b.offerId !== undefined && b.offerId !== sub.offer_id)
            throw invalid(
              "offerId",
              `subscription '${sub.id}' is on offer '${sub.offer_id}'; leave offerId out`,
            );
          const offer = (await findOffer(svc.store.db, sub.offer_id))!;
          const markup = await markupFor(svc, tree, sub.provider_id, offer.provider_id);
          const common = {
            offer,
            ...(b.currency !== undefined ? { currency: b.currency } : {}),
            ...(markup ? { markup } : {}),
          };
          if (window)
            return rateSubscriptionUsage(svc, { ...common, subscription: sub, from: b.from!, to: b.to! });
          return rateQuantities(svc, {
            ...common,
            quantities: b.quantities!,
            applyTerms: b.applyTerms,
            subscriptionId: sub.id,
            ...(b.at !== undefined ? { at: b.at } : {}),
          });
        }
        if (b.offerId === undefined) throw invalid("offerId", "give offerId or subscriptionId");
        const offer = await requireOnOffer(svc, p, "prices/read", b.offerId, {
          readAction: "prices/read",
          write: false,
        });
        return rateQuantities(svc, {
          offer,
          quantities: b.quantities!,
          applyTerms: b.applyTerms,
          ...(b.currency !== undefined ? { currency: b.currency } : {}),
          ...(b.at !== undefined ? { at: b.at } : {}),
        });
      },
    );
  });
}
