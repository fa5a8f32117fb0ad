/** Durations in config and options: a number of milliseconds, or a string such as `250ms`, `5s`, `1.5m`, `1h`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/;

/** Parses a duration to milliseconds; returns undefined when it is not one (callers say where). */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Like parseDuration, but throws a TypeError naming what was wrong. */
export function toMs(value: Duration, what = 'duration'): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new TypeError(`${what}: ${JSON.stringify(value)} is not a duration (use a number of ms, or e.g. "250ms", "5s", "2m")`);
  }
  return ms;
}

export function formatMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}
