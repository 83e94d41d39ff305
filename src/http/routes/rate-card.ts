import { z } from "zod";
import { ProviderTree, requireOnSubscription } from "../../auth/scoping.js";
import { DomainError } from "../../domain/errors.js";
import { currencyCode } from "../../domain/rating/currency.js";
import { offerVisible, visibleOffers } from "../../offers/access.js";
import { findOffer } from "../../offers/repository.js";
import { markupFor } from "../../rating/markups.js";
import { meterCatalogue } from "../../rating/meters.js";
import { rateCardJson } from "../../rating/rate-card.js";
import { parseRateCardFilter } from "../../rating/rate-card-filter.js";
import type { Services } from "../../services.js";
import { principalOf } from "../auth.js";
import { AzureError } from "../azure-errors.js";
import type { App } from "../types.js";

export const RATE_CARD_API_VERSION = "2015-06-01-preview";

const LOCALE = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/;
const REGION = /^[A-Za-z]{2}$/;

const DESCRIPTION = `Azure's RateCard API (\`ResourceRateCardInfo\`): the meters and prices of an offer in a currency, as in
force now, with the subscription's reseller markup applied, and the offer terms. \`$filter\` must give
\`OfferDurableId eq '…' and Currency eq '…' and Locale eq '…' and RegionInfo eq '…'\`. Errors use the ARM envelope.`;

/**
 * `GET /subscriptions/{subscriptionId}/providers/Microsoft.Commerce/RateCard`, wire-compatible with
 * Azure's RateCard API as the Azure SDKs call it. The caller must be able to read prices on the
 * subscription and see the offer named in the filter (a tenant sees its own subscription's offer).
 */
export function registerRateCard(app: App, svc: Services): void {
  app.get(
    "/subscriptions/:subscriptionId/providers/Microsoft.Commerce/RateCard",
    {
      config: { action: "prices/read", access: "resource", envelope: "azure" },
      schema: {
        tags: ["azure"],
        description: DESCRIPTION,
        params: z.object({ subscriptionId: z.string().max(64) }),
        querystring: z.looseObject({
          "api-version": z.string().max(64).optional(),
          $filter: z.string().max(2000).optional(),
        }),
      },
    },
    async (req, reply) => {
      const q = req.query;
      const version = q["api-version"];
      if (version === undefined || version === "")
        throw new AzureError(400, "NoApiVersion", "The api-version query parameter is required.");
      if (version !== RATE_CARD_API_VERSION)
        throw new AzureError(
          400,
          "InvalidApiVersionParameter",
          `The api-version '${version}' is not supported; use '${RATE_CARD_API_VERSION}'.`,
        );
      const filter = parseRateCardFilter(q.$filter);
      if (typeof filter === "string") throw new AzureError(400, "InvalidProperty", filter);
      const currency = currencyCode(filter.currency);
      if (currency === undefined)
        throw new AzureError(
          400,
          "InvalidProperty",
          `Currency '${filter.currency}' is not an ISO 4217 currency code tally prices in.`,
        );
      if (!LOCALE.test(filter.locale))
        throw new AzureError(
          400,
          "InvalidProperty",
          `Locale '${filter.locale}' is not a culture name such as en-US.`,
        );
      if (!REGION.test(filter.regionInfo))
        throw new AzureError(
          400,
          "InvalidProperty",
          `RegionInfo '${filter.regionInfo}' is not a two-letter ISO country code.`,
        );

      const p = principalOf(req);
      let sub: Awaited<ReturnType<typeof requireOnSubscription>>;
      try {
        sub = await requireOnSubscription(svc, p, "prices/read", req.params.subscriptionId);
      } catch (e) {
        if (e instanceof DomainError && e.code === "NotFound")
          throw new AzureError(
            404,
            "SubscriptionNotFound",
            `The subscription '${req.params.subscriptionId}' could not be found.`,
          );
        throw e;
      }
      const offer = await findOffer(svc.store.db, filter.offerDurableId);
      if (!offer || !offerVisible(await visibleOffers(svc, p, "prices/read"), offer))
        throw new AzureError(
          404,
          "OfferNotFound",
          `The offer '${filter.offerDurableId}' could not be found.`,
        );
      const tree = await ProviderTree.load(svc.store.db);
      const result = await rateCardJson(svc.store, await meterCatalogue(svc.store.db), {
        offer,
        currency,
        locale: filter.locale,
        at: svc.clock.now(),
        markup: await markupFor(svc, tree, sub.provider_id, offer.provider_id),
        rounding: svc.config.rounding,
      });
      if (!result.ok)
        throw new AzureError(
          404,
          "RateCardNotFound",
          result.reason === "NoPriceSheetInCurrency"
            ? `The offer '${offer.id}' has no price sheet in ${currency}.`
            : `The offer '${offer.id}' has no ${currency} price sheet in force yet.`,
        );
      void reply.header("x-ms-request-id", String(req.id));
      return reply.type("application/json; charset=utf-8").send(result.json);
    },
  );
}
