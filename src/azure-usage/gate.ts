/** Thrown when a gate's slots and queue are all taken: the caller should answer 503 and a retry delay. */
export class Overloaded extends Error {
  constructor(readonly retryAfterSec: number) {
    super("the server is busy answering other usage queries; retry shortly.");
    this.name = "Overloaded";
  }
}

/**
 * Bounds how many usage-API queries run at once. Up to `limit` run; up to `queue` more wait their
 * turn in arrival order; anything beyond is shed at once, so that a burst of collectors gets a
 * quick, retryable 503 instead of piling onto the database until every request times out.
 */
export class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly limit: number,
    readonly queue: number,
    private readonly retryAfterSec = 2,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    else if (this.waiting.length < this.queue) await new Promise<void>((r) => this.waiting.push(r));
    else throw new Overloaded(this.retryAfterSec);
    try {
      return await f();
    } finally {
      // The slot passes straight to the next waiter, so `active` never drops below what is running.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
