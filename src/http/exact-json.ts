import { parse as parseLossless } from "lossless-json";
import secureJson from "secure-json-parse";
import { DomainError } from "../domain/errors.js";
import type { App } from "./types.js";

/**
 * Registers routes whose JSON bodies carry prices or quantities: every JSON number arrives as the
 * exact text it was written with (`1.10` stays `"1.10"`, `0.1234567890123456789` keeps its digits)
 * instead of passing through a double, so the schemas take decimals as strings whichever way the
 * client wrote them. Prototype-poisoning keys are refused as everywhere else.
 */
export function withExactJson(app: App, register: (scope: App) => void): void {
  void app.register(async (scope) => {
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
      const text = body as string;
      try {
        secureJson.parse(text, { protoAction: "error", constructorAction: "error" });
        done(
          null,
          parseLossless(text, null, (digits) => digits),
        );
      } catch (e) {
        done(
          new DomainError("InvalidRequest", `the body is not valid JSON: ${(e as Error).message}`),
          undefined,
        );
      }
    });
    register(scope as unknown as App);
  });
}
