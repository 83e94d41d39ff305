import cliProgress from "cli-progress";

export interface Progress {
  increment(n: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  /** Prints a line above the bar. */
  log(line: string): void;
  stop(): void;
}

/** A progress bar on stderr for long work; nothing but the logged lines when stderr is not a terminal (scripts, CI). */
export function progressBar(format: string, total: number): Progress {
  if (process.stderr.isTTY !== true) {
    return {
      increment: () => {},
      update: () => {},
      log: (line) => void process.stderr.write(line),
      stop: () => {},
    };
  }
  const multi = new cliProgress.MultiBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(Math.max(total, 1), 0, { records: 0 });
  return {
    increment: (n, payload) => bar.increment(n, payload),
    update: (v, payload) => bar.update(v, payload),
    log: (line) => multi.log(line),
    stop: () => multi.stop(),
  };
}
