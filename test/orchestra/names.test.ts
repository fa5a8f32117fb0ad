/**
 * Extension names are ordered without the locale's collator (whose first use costs every boot
 * ~6 ms and 3 MB): the order must stay the one `localeCompare` gives, which decides the load order
 * and which of two providers of a method is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareExtensionNames } from '../../src/orchestra/manifest.js';

const sign = (n: number) => Math.sign(n);
const nameChars = fc.constantFrom(...'_-.0123456789abcdefghijklmnopqrstuvwxyz'.split(''));

describe('extension name order', () => {
  it('is localeCompare\'s for names of the manifest alphabet', () => {
    fc.assert(
      fc.property(fc.string({ unit: nameChars, maxLength: 8 }), fc.string({ unit: nameChars, maxLength: 8 }), (a, b) => {
        expect(sign(compareExtensionNames(a, b))).toBe(sign(a.localeCompare(b)));
      }),
      { numRuns: 5000 },
    );
  });

  it('is localeCompare\'s for any other name too (a draft\'s: capitals, spaces, accents)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), (a, b) => {
        expect(sign(compareExtensionNames(a, b))).toBe(sign(a.localeCompare(b)));
      }),
    );
    expect(['text-stats', 'files', 'summarizer', 'text_stats', 'a1', 'a.b'].sort(compareExtensionNames)).toEqual(['a.b', 'a1', 'files', 'summarizer', 'text_stats', 'text-stats']);
  });
});
