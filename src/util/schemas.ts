import * as v from 'valibot';
import { parseDuration } from './duration.js';

/*
 * Schema pieces the config file and the parts' settings (`with:` of each builtin) share, so a
 * duration or a limit is checked, and its mistake worded, the same wherever it is written.
 */

const DURATION_MESSAGE = 'must be a duration: a number of milliseconds or a string such as "250ms", "5s", "2m"';

/** A duration: milliseconds, or a number with a unit (`250ms`, `5s`). */
export const duration = v.pipe(
  v.union([v.number(), v.string()], DURATION_MESSAGE),
  v.check((x) => parseDuration(x) !== undefined, DURATION_MESSAGE),
  v.description('A duration: milliseconds, or a number with a unit (ms, s, m, h), e.g. "250ms", "5s".'),
);

/** A whole number >= 0, named `what` in its messages. */
export const count = (what: string) => v.pipe(v.number(`${what} must be a whole number`), v.integer(`${what} must be a whole number`), v.minValue(0, `${what} must be >= 0`));

/** A whole number >= 1, named `what` in its messages. */
export const positive = (what: string) => v.pipe(v.number(`${what} must be a number`), v.integer(`${what} must be a whole number`), v.minValue(1, `${what} must be >= 1`));

/** A free-form table (checked by whoever reads it), named `what` in its message. */
export const table = (what: string) => v.record(v.string(), v.unknown(), `${what} must be a table`);

/** Bus patterns: dot-separated words, `*` for one word, `>` (last) for the rest. */
export const PATTERN = /^(?:(?:[^\s.*>]+|\*)\.)*(?:[^\s.*>]+|\*|>)$/;

/** A list of bus patterns under `what`; `kinds` says what they match (`method patterns`). */
export function patternList(what: string, kinds: string) {
  return v.pipe(
    v.array(v.string(`each entry of ${what} must be a string`), `${what} must be a list of ${kinds}`),
    v.check((xs) => xs.every((x) => PATTERN.test(x)), `${what} entries must be dot-separated names, with * for one segment and > (last) for the rest`),
  );
}

/** Resource limits (a sandboxed component's, or a grant's ceilings), under `what`, with their minimums. */
export function limitsSchema(what: string, min: { memoryMb: number; processes: number }) {
  return v.strictObject(
    {
      memoryMb: v.optional(v.pipe(v.number(`${what}.memoryMb must be a number`), v.integer(`${what}.memoryMb must be a whole number`), v.minValue(min.memoryMb, `${what}.memoryMb must be at least ${min.memoryMb}`))),
      cpuPercent: v.optional(v.pipe(v.number(`${what}.cpuPercent must be a number`), v.minValue(1, `${what}.cpuPercent must be at least 1 (percent of one CPU)`))),
      processes: v.optional(v.pipe(v.number(`${what}.processes must be a number`), v.integer(`${what}.processes must be a whole number`), v.minValue(min.processes, `${what}.processes must be at least ${min.processes}`))),
    },
    `${what} must be a table { memoryMb, cpuPercent, processes }`,
  );
}
