import type { FastifyRequest } from "fastify";
import { type ParsedBatch, parseJsonBatch, parseNdjsonBatch } from "../ingest/parse.js";
import type { Services } from "../services.js";
import type { App } from "./types.js";

/** Content types a batch of usage records may come in. */
export const BATCH_TYPES = ["application/json", "application/x-ndjson", "application/jsonl"];

/**
 * Registers routes whose bodies are batches of usage records. Bodies arrive as text so that the
 * batch parser can choose the lossless path and name NDJSON lines; the size limit is the ingest one.
 */
export function withBatchBodies(app: App, svc: Services, register: (scope: App) => void): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      BATCH_TYPES,
      { parseAs: "string", bodyLimit: svc.config.ingestMaxBytes },
      (_req, body, done) => done(null, body),
    );
    register(scope as unknown as App);
  });
}

export function parseBatchBody(req: FastifyRequest): ParsedBatch {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  const text = req.body as string;
  return type === "application/json" ? parseJsonBatch(text) : parseNdjsonBatch(text);
}
