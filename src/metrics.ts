import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The Prometheus registry of one tally instance and the metrics its capabilities update. One per
 * Services, so tests can run several instances in one process.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly collectors: (() => Promise<unknown>)[] = [];

  /**
   * Adds a refresh that runs before each scrape, for gauges whose truth is in the database (every
   * node then reports it, not only the one running the job).
   */
  addCollector(refresh: () => Promise<unknown>): void {
    this.collectors.push(refresh);
  }

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

  readonly usageReadAhead = new Counter({
    name: "tally_usage_api_read_ahead_total",
    help: "Usage-API pages read ahead for a client walking nextLink, by outcome (started, used, expired).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly rollupDuration = new Histogram({
    name: "tally_usage_rollup_duration_seconds",
    help: "Time to aggregate one reported hour.",
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
    registers: [this.registry],
  });

  // First of the bridge gauges: its collect refreshes them all from the database.
  readonly bridgeForwardedUntil = new Gauge({
    name: "tally_bridge_forwarded_until_seconds",
    help: "Reported time up to which every closed window is delivered upstream (Unix time).",
    registers: [this.registry],
    collect: async () => {
      for (const refresh of this.collectors) await refresh().catch(() => undefined);
    },
  });

  readonly bridgeLag = new Gauge({
    name: "tally_bridge_lag_seconds",
    help: "How far forwarding trails the closed reported time (0 when up to date).",
    registers: [this.registry],
  });

  readonly bridgeQueuedBatches = new Gauge({
    name: "tally_bridge_queued_batches",
    help: "Batches built for upstream and not yet acknowledged.",
    registers: [this.registry],
  });

  readonly bridgeConsecutiveFailures = new Gauge({
    name: "tally_bridge_consecutive_failures",
    help: "Failed delivery attempts since the last success.",
    registers: [this.registry],
  });

  readonly bridgeDeliveries = new Counter({
    name: "tally_bridge_deliveries_total",
    help: "Batch delivery attempts, by outcome (delivered, failed) and error category.",
    labelNames: ["outcome", "category"] as const,
    registers: [this.registry],
  });

  readonly bridgeRecords = new Counter({
    name: "tally_bridge_records_total",
    help: "Records acknowledged by the upstream, by outcome (inserted, duplicate; delivered when the upstream does not say).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "tally_process_" });
  }
}
