/**
 * The hand-built JSON of requests and responses (session.ts: requestJson, responseJson) is byte
 * for byte what JSON.stringify writes for the message object, whatever the strings and values.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requestJson, responseJson } from '../../src/bus/session.js';

function stringifiedRequest(id: number, method: string, params: unknown, traceparent: string, deadline: number, peer: string | undefined): string {
  const meta: Record<string, unknown> = { traceparent, deadline };
  if (peer !== undefined) meta.peer = peer;
  return JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method, meta } : { jsonrpc: '2.0', id, method, params, meta });
}

const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('a.b', 'x"y', 'back\\slash', 'tab\there', '\u007f', '\u2028', '\ud800', '€'),
  fc.string({ minLength: 250, maxLength: 300 }),
);
const value = fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 3 }), fc.anything({ maxDepth: 2 }));
const deadline = fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.double(), fc.constantFrom(Infinity, -Infinity, NaN, -0));
const withKey = { toJSON: (key: string) => `key:${key}` };
const odd: unknown[] = [() => 1, Symbol('s'), null, 0, -0, '', [undefined, () => 1], { a: undefined, b: () => 1 }, new Date(0), withKey, { toJSON: () => undefined }, { nested: withKey }, new Map([[1, 2]])];

describe('requestJson', () => {
  it('writes exactly what JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.nat(), text, value, text, deadline, fc.option(text, { nil: undefined }), (id, method, p, tp, d, peer) => {
        expect(requestJson(id, method, p, tp, d, peer)).toBe(stringifiedRequest(id, method, p, tp, d, peer));
      }),
      { seed: 2024, numRuns: 3000 },
    );
  });

  it('handles params JSON.stringify drops or converts, and toJSON with its key', () => {
    for (const p of odd) expect(requestJson(7, 'm', p, 't', 1.5, 'kernel')).toBe(stringifiedRequest(7, 'm', p, 't', 1.5, 'kernel'));
  });

  it('throws as JSON.stringify does (a cycle, a bigint)', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => requestJson(1, 'm', cyclic, 't', 1, undefined)).toThrow(TypeError);
    expect(() => requestJson(1, 'm', { n: 1n }, 't', 1, undefined)).toThrow(TypeError);
  });
});

describe('responseJson', () => {
  it('writes exactly what JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), text), fc.oneof(value, fc.constantFrom(...odd)), (id, result) => {
        expect(responseJson(id, result)).toBe(JSON.stringify({ jsonrpc: '2.0', id, result }));
      }),
      { seed: 7, numRuns: 3000 },
    );
  });

  it('throws as JSON.stringify does', () => {
    expect(() => responseJson(1, { n: 1n })).toThrow(TypeError);
  });
});
