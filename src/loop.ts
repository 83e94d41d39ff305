import type { Logger } from "pino";

export interface Loop {
  /** Stops the loop; resolves once a pass in progress has ended. */
  stop(): Promise<void>;
}

/**
 * A background job of `tally serve`: runs `pass` at once, then again `intervalMs` after each pass
 * ends (passes never overlap). A failed pass is logged with `failure` and the loop goes on.
 */
export function startLoop(
  logger: Logger,
  failure: string,
  intervalMs: number,
  pass: () => Promise<unknown>,
): Loop {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let timer: NodeJS.Timeout;
  const tick = () => {
    if (stopped) return;
    running = pass()
      .catch((err) => logger.error({ err }, failure))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, 0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
