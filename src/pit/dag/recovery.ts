/**
 * What a node's failure leads to: its recovery rule applied (retry with backoff, fallback, skip or
 * fail), the nodes it moves, and the decision the caller hears, with a rationale naming the node,
 * the error and the rule.
 */
import { list, type NodeRec } from './graph.js';
import type { RunProgress } from './progress.js';
import type { Decision, Strategy } from './types.js';
import { backoffDelay, backoffFormula } from './validate.js';

/** The failure being recovered from, and how it is described. */
interface Failure {
  readonly n: NodeRec;
  readonly msg: string;
  /** `attempt A of 'x' failed (msg)`: how every rationale starts. */
  readonly what: string;
  readonly released: string[];
}

/** Applies `n`'s recovery to the failure just recorded (`final`: a new attempt cannot change it). */
export function recover(p: RunProgress, n: NodeRec, msg: string, released: string[], final = false): Decision {
  const r = n.spec.recovery;
  const f: Failure = { n, msg, what: `attempt ${n.attempts} of '${n.id}' failed (${msg})`, released };
  let strategy: Strategy = r.strategy;
  let why = `strategy '${strategy}'`;
  if (strategy === 'retry') {
    if (!final && n.failures <= r.retries) return retry(p, f);
    strategy = r.then;
    why = final ? `not retried (the failure cannot change on a new attempt), then '${strategy}'` : `retries exhausted (${r.retries}), then '${strategy}'`;
  }
  if (strategy === 'fallback') return fallback(p, f, why);
  if (strategy === 'skip') return skip(p, f, why);
  return fail(p, f, why);
}

function retry(p: RunProgress, { n, what, released }: Failure): Decision {
  const r = n.spec.recovery;
  const delayMs = backoffDelay(r, n.failures);
  const attempt = n.attempts + 1;
  const rationale = `${what}; retry ${n.failures} of ${r.retries} in ${delayMs}ms (${backoffFormula(r, n.failures)}), as attempt ${attempt}`;
  if (delayMs > 0) {
    n.readyAt = Date.now() + delayMs;
    p.move(n, 'retrying', rationale);
    p.arm(n);
  } else {
    p.move(n, 'ready', rationale);
    released.push(n.id);
  }
  return { action: 'retry', delayMs, attempt, rationale };
}

function fallback(p: RunProgress, { n, what, released }: Failure, why: string): Decision {
  const f = n.fallback!;
  n.delegate = f;
  f.standby = false;
  p.move(n, 'failed', `${what}; '${f.id}' runs in its place`);
  const deps = n.hardDependents.length + n.softDependents.length;
  const followers = deps ? `its dependents (${list([...n.hardDependents, ...n.softDependents].map((d) => d.id))}) follow the outcome of '${f.id}'` : 'it has no dependents';
  if (f.resolved !== undefined) {
    // The fallback settled before it was needed (its own hard need failed): that is the outcome.
    const skipped: string[] = [];
    p.settle(n, f.resolved, skipped, released);
    return { action: 'fallback', node: f.id, rationale: `${what}; ${why}: fallback '${f.id}' had already settled as ${f.resolved} (${f.reason}), so ${followers}: ${f.resolved}${skipped.length ? `; skipped: ${list(skipped)}` : ''}` };
  }
  p.maybeReady(f, `fallback for '${n.id}', which failed`, released);
  const when = f.state === 'ready' ? 'it is ready now' : `it starts once its own dependencies allow (${f.waitHard + f.waitSoft} unsettled)`;
  return { action: 'fallback', node: f.id, rationale: `${what}; ${why}: fallback '${f.id}' runs in its place (${when}); ${followers}` };
}

function skip(p: RunProgress, { n, what, released }: Failure, why: string): Decision {
  p.move(n, 'skipped', `${what}; ${why}`);
  const skipped = [n.id];
  p.settle(n, 'skipped', skipped, released);
  const more = skipped.length > 1 ? `, and with it its hard dependents ${list(skipped.slice(1))}` : '';
  return { action: 'skip', skipped, rationale: `${what}; ${why}: '${n.id}' is skipped${more}; soft dependents go on` };
}

function fail(p: RunProgress, { n, msg, what, released }: Failure, why: string): Decision {
  p.move(n, 'failed', `${what}; ${why}`);
  if (!n.optional) {
    const cancelled = p.finish(n.run, 'failed', `required node '${n.id}' failed: ${msg}`);
    return { action: 'fail', runFailed: true, skipped: [], cancelled, rationale: `${what}; ${why}: '${n.id}' is required, so the run fails${cancelled.length ? `; cancelled: ${list(cancelled)}` : ''}` };
  }
  const skipped: string[] = [];
  p.settle(n, 'failed', skipped, released);
  const note = n.spec.optional ? 'optional' : `optional (it stands in for the optional '${n.primary?.id}')`;
  return {
    action: 'fail',
    runFailed: false,
    skipped,
    cancelled: [],
    rationale: `${what}; ${why}: '${n.id}' is ${note}, so the run goes on${skipped.length ? `; its hard dependents are skipped: ${list(skipped)}` : ''}`,
  };
}
