import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The Prometheus registry of one tally instance and the metrics its capabilities update. One per
 * Services, so tests can run several instances in one process.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: "tally_http_requests_total",
    help: "HTTP requests answered, by route and status.",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: "tally_http_request_duration_seconds",
    help: "Time to answer HTTP requests, by route.",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });

  readonly usageRecords = new Counter({
    name: "tally_usage_records_total",
    help: "Usage records received, by outcome (inserted, duplicate, rejected).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly ingestBatches = new Counter({
    name: "tally_ingest_batches_total",
    help: "Ingest batches, by outcome (accepted, invalid, conflict, error).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly sealedUntil = new Gauge({
    name: "tally_usage_sealed_until_seconds",
    help: "End of the last sealed reported hour (Unix time).",
    registers: [this.registry],
  });

  readonly rolledUpUntil = new Gauge({
    name: "tally_usage_closed_until_seconds",
    help: "End of the last reported hour aggregated and answerable (Unix time).",
    registers: [this.registry],
  });

  readonly rollupDuration = new Histogram({
    name: "tally_usage_rollup_duration_seconds",
    help: "Time to aggregate one reported hour.",
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "tally_process_" });
  }
}
