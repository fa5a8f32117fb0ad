import { parseDuration } from '../util/duration.js';
import type { Melody } from './melody.js';

/** The suffix of a step's fallback node: `<step>~fallback` (step names may not contain `~`). */
export const FALLBACK = '~fallback';

/** Steps as DAG Tracker nodes: needs/after as they are; retry, skip and fallback as recovery; a fallback call as its own held-back node. */
export function toWorkflow(melody: Melody): { id: string; nodes: unknown[] } {
  const nodes: unknown[] = [];
  for (const [id, step] of Object.entries(melody.steps)) {
    const then = step.onFailure === 'fallback' ? 'fallback' : step.onFailure;
    const recovery: Record<string, unknown> = step.retry
      ? { strategy: 'retry', retries: step.retry.max, backoff: step.retry.backoff, delayMs: parseDuration(step.retry.delay), maxDelayMs: parseDuration(step.retry.maxDelay), then }
      : { strategy: step.onFailure };
    if (step.onFailure === 'fallback') recovery.fallback = `${id}${FALLBACK}`;
    nodes.push({ id, needs: step.needs, after: step.after, optional: step.optional, recovery, data: { step: id } });
    if (step.onFailure === 'fallback') nodes.push({ id: `${id}${FALLBACK}`, needs: step.needs, after: step.after, optional: step.optional, data: { step: id, fallback: true } });
  }
  return { id: melody.melody, nodes };
}
