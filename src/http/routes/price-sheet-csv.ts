import { z } from "zod";
import type { Principal } from "../../auth/principal.js";
import { DomainError } from "../../domain/errors.js";
import { requireOnOffer, visibleOffers } from "../../offers/access.js";
import { CSV_COLUMNS, exportPriceSheets, importPriceSheets, type OfferCheck } from "../../rating/csv.js";
import type { Services } from "../../services.js";
import { actorOf, principalOf } from "../auth.js";
import { commonErrors, errorBody } from "../schemas.js";
import type { App } from "../types.js";
import { offerIdSchema } from "./offers.js";
import { instantQuery } from "./price-sheets.js";

const CSV_TYPES = ["text/csv", "application/csv"];
const tags = ["prices"];
const header = CSV_COLUMNS.join(",");

const imported = z.object({
  dryRun: z.boolean(),
  versions: z.array(
    z.object({
      id: z.string().nullable(),
      offerId: z.string(),
      currency: z.string(),
      effectiveDate: z.string(),
      meterCount: z.number().int(),
      lines: z.object({ first: z.number().int(), last: z.number().int() }),
      termsFrom: z.string().nullable(),
    }),
  ),
});

/** May the caller change this offer's prices? Offers it cannot see are reported as missing. */
function offerChecker(svc: Services, p: Principal) {
  return async (offerId: string): Promise<OfferCheck> => {
    try {
      await requireOnOffer(svc, p, "prices/write", offerId, { readAction: "prices/read", write: true });
      return "ok";
    } catch (e) {
      if (e instanceof DomainError && e.code === "NotFound") return "missing";
      if (e instanceof DomainError && e.code === "Forbidden") return "forbidden";
      throw e;
    }
  };
}

/**
 * Price sheets as CSV (`tally prices import` / `export`): one row per meter and tier, columns
 * `offerId,currency,effectiveDate,meterId,tierStart,unitPrice,includedQuantity`.
 */
export function registerPriceSheetCsv(app: App, svc: Services): void {
  void app.register(async (scope) => {
    scope.addContentTypeParser(
      CSV_TYPES,
      { parseAs: "string", bodyLimit: svc.config.ingestMaxBytes },
      (_req, body, done) => done(null, body),
    );
    (scope as unknown as App).post(
      "/api/v1/price-sheets/import",
      {
        bodyLimit: svc.config.ingestMaxBytes,
        config: { action: "prices/write", access: "resource" },
        schema: {
          tags,
          description: `Imports price sheet versions from a CSV body (\`text/csv\`) whose first line is \`${header}\`. Rows with the same offer, currency and effective date make one version; a version takes its offer terms from the version it follows. All or nothing: any bad row rejects the file, and the answer lists every bad row by line. \`dryRun=true\` validates only.`,
          querystring: z.object({ dryRun: z.enum(["true", "false"]).default("false") }),
          response: {
            201: imported,
            200: imported,
            409: errorBody,
            413: errorBody,
            415: errorBody,
            ...commonErrors,
          },
        },
      },
      async (req, reply) => {
        const dryRun = req.query.dryRun === "true";
        const result = await importPriceSheets(svc, actorOf(req), req.body as string, {
          dryRun,
          checkOffer: offerChecker(svc, principalOf(req)),
        });
        return reply.status(dryRun ? 200 : 201).send(result);
      },
    );
  });

  app.get(
    "/api/v1/price-sheets/export",
    {
      config: { action: "prices/read", access: "resource" },
      schema: {
        tags,
        description: `The price sheet versions the caller may read, as CSV (\`${header}\`), ordered by offer, currency, effective date, meter and tier; filters as for the list.`,
        querystring: z.object({
          offerId: offerIdSchema.optional(),
          currency: z
            .string()
            .max(8)
            .transform((s) => s.toUpperCase())
            .optional(),
          effectiveAt: instantQuery.optional(),
        }),
        produces: ["text/csv"],
        response: { 200: z.string().describe("CSV"), ...commonErrors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      if (req.query.offerId !== undefined)
        await requireOnOffer(svc, p, "prices/read", req.query.offerId, {
          readAction: "prices/read",
          write: false,
        });
      const csv = await exportPriceSheets(svc, req.query, await visibleOffers(svc, p, "prices/read"));
      return reply
        .type("text/csv; charset=utf-8")
        .header("content-disposition", 'attachment; filename="price-sheets.csv"')
        .send(csv);
    },
  );
}
