import { z } from "zod";
import { DomainError } from "../../domain/errors.js";
import { ingestBatch } from "../../ingest/service.js";
import type { Services } from "../../services.js";
import { principalOf } from "../auth.js";
import { parseBatchBody, withBatchBodies } from "../batch-body.js";
import { errorBody } from "../schemas.js";
import type { App } from "../types.js";

const result = z.object({ inserted: z.number().int(), duplicates: z.number().int() });

const DESCRIPTION = `Reports usage records, authenticated by the source's API key (\`x-api-key\` or \`Authorization: Bearer\`).
The body is a JSON array of records, \`{"records": [...]}\`, or NDJSON (\`application/x-ndjson\`), up to
10,000 records. The batch is stored whole or not at all: invalid records answer 400 listing every problem
by record index (and line, for NDJSON); an id re-sent with different content answers 409 with the
conflicting indexes; re-sent identical records count as duplicates.`;

/** `POST /api/v1/usage-records`: ingest from resource providers. */
export function registerUsageRecords(app: App, svc: Services): void {
  withBatchBodies(app, svc, (scope) => {
    scope.post(
      "/api/v1/usage-records",
      {
        bodyLimit: svc.config.ingestMaxBytes,
        config: { auth: "source", action: "usage/write" },
        schema: {
          tags: ["usage"],
          description: DESCRIPTION,
          security: [{ apiKey: [] }],
          response: {
            200: result,
            400: errorBody,
            401: errorBody,
            409: errorBody,
            413: errorBody,
            415: errorBody,
          },
        },
      },
      async (req) => {
        const principal = principalOf(req);
        if (principal.kind !== "source" || principal.sourceSeq === undefined) {
          throw new DomainError("Forbidden", "only resource providers (sources) report usage.");
        }
        return ingestBatch(svc, principal.sourceSeq, parseBatchBody(req), {
          bridged: principal.sourceKind === "bridge",
        });
      },
    );
  });
}
