/**
 * The Python Conductor's policy gives the kernel's built-in answers: the same choice and the same
 * rationale for every question (a melody's decisions do not depend on which Conductor decides).
 * Questions are generated (fast-check, seeded) and answered by both; numbers include ties, tiny and
 * huge values, so JavaScript's number formatting is checked too.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinPolicy, type Question } from '../../src/conductor/policy.js';

const root = resolve(import.meta.dirname, '../..');

/** One Python process answering questions, line by line. */
function oracle() {
  const child = spawn('python3', [resolve(root, 'test/fixtures/conductor/policy-oracle.py')], { env: { ...process.env, PYTHONPATH: resolve(root, 'python'), PYTHONDONTWRITEBYTECODE: '1' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async ask(q: Question): Promise<{ choice?: string; rationale?: string; error?: string }> {
      child.stdin!.write(`${JSON.stringify(q)}\n`);
      const next = await lines.next();
      if (next.done) throw new Error('the Python policy exited');
      return JSON.parse(next.value) as { choice?: string; rationale?: string };
    },
    close: () => child.kill(),
  };
}

const number = fc.oneof(
  fc.integer({ min: 0, max: 1000 }),
  fc.double({ min: 0, max: 1e6, noNaN: true }),
  fc.constantFrom(0, 0.125, 0.375, 1.005, 2.675, 1e-7, 1.5e-7, 1e21, 123e18, 0.1 + 0.2, 5e-324),
);
const method = fc.constantFrom('text.stats', 'text.stats2', 'report.text', 'files.read', 'a.b');
const common = { melody: fc.constant('m'), run: fc.constant('r'), step: fc.constant('s') };
const question: fc.Arbitrary<Question> = fc.oneof(
  fc.uniqueArray(method, { minLength: 1, maxLength: 4 }).chain((candidates) =>
    fc.record({
      kind: fc.constant('provider' as const),
      ...common,
      candidates: fc.constant(candidates),
      served: fc.subarray(candidates),
      latencyMs: fc.record(Object.fromEntries(candidates.map((c) => [c, fc.option(fc.oneof(number, fc.constantFrom(1, 2)), { nil: null })]))) as fc.Arbitrary<Record<string, number | null>>,
    }),
  ),
  fc.record({
    kind: fc.constant('failure' as const),
    ...common,
    attempt: fc.integer({ min: 1, max: 5 }),
    error: fc.record({ code: fc.constantFrom(-32603, -32003), message: fc.string() }),
    proposed: fc.record({ action: fc.constantFrom('retry', 'fail', 'skip'), rationale: fc.string() }),
  }),
  fc.record({ kind: fc.constant('budget' as const), ...common, cost: number, spent: number, budget: fc.option(number, { nil: null }) }),
);

describe('the Python Conductor policy', () => {
  let py: ReturnType<typeof oracle>;
  beforeAll(() => {
    py = oracle();
  });
  afterAll(() => py.close());

  it('answers every question as the built-in policy does (choice and rationale)', async () => {
    await fc.assert(
      fc.asyncProperty(question, async (q) => {
        const [ts, python] = await Promise.all([builtinPolicy.decide(q), py.ask(q)]);
        expect(python.error).toBeUndefined();
        expect({ choice: python.choice, rationale: python.rationale }).toEqual({ choice: ts.choice, rationale: ts.rationale });
      }),
      { seed: 20261207, numRuns: 1500 },
    );
  }, 60_000);
});
