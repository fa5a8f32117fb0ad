/**
 * The structure scan used on frames that are not parsed (too large) or not yet (too deep, an id
 * whose text JSON.parse would change): whatever the JSON and however its bytes are cut, it finds
 * the top-level id's exact text and the frame's kind, and its depth.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonScanner } from '../../src/bus/jsonscan.js';
import { cutAt } from '../reliability/fuzz.js';

const idText = fc.oneof(
  fc.integer().map(String),
  fc.constantFrom('12345678901234567890', '1.5', '-0', '1e3', '1E+2', '"x\\u0000y"', '"\\u0041"', '"a\\\\"', '"q\\"q"'),
  fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
);

describe('JsonScanner', () => {
  it("finds the top-level id's text and the frame's kind, wherever the id is and however the bytes are cut", () => {
    fc.assert(
      fc.property(idText, fc.jsonValue({ maxDepth: 4 }), fc.nat({ max: 3 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 20 }), (id, value, at, answer, cuts) => {
        const fields = [`"jsonrpc":"2.0"`, answer ? `"result":${JSON.stringify(value)}` : `"method":"m","params":${JSON.stringify({ id: 999, v: value })}`, `"meta":{"id":"inner"}`];
        fields.splice(at % (fields.length + 1), 0, `"id" : ${id}`);
        const bytes = Buffer.from(`{${fields.join(',')}}`);
        const scan = new JsonScanner();
        for (const c of cutAt(bytes, cuts)) scan.pushBytes(c, 0, c.length);
        expect(scan.objects).toHaveLength(1);
        expect(Buffer.from(scan.first!.id!, 'latin1').toString('utf8')).toBe(id);
        expect(scan.first!.result).toBe(answer);
        expect(scan.first!.method).toBe(!answer);
        const text = new JsonScanner();
        text.pushText(bytes.toString('utf8'));
        expect(text.first!.id).toBe(id);
      }),
      { seed: 11, numRuns: 2000 },
    );
  });

  it('measures depth past strings that hold brackets and escaped quotes', () => {
    const s = new JsonScanner(3);
    s.pushText('{"a":"[[[[\\"[[[","b":[[1]]}');
    expect(s.maxDepth).toBe(3);
    expect(s.tooDeep).toBe(false);
    const deep = new JsonScanner(3);
    deep.pushText('[[[[1]]]]');
    expect(deep.tooDeep).toBe(true);
  });

  it("a batch's elements each get their id, scalars counted as elements", () => {
    const s = new JsonScanner();
    s.pushText('[1,{"id":1e3,"method":"a"},"x",{"method":"n"},{"id":"b","result":2}]');
    expect(s.objects.map((o) => o.id)).toEqual(['1e3', undefined, '"b"']);
    expect(s.elementOf).toEqual([1, 3, 4]);
  });
});
