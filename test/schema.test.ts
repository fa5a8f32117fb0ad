/** The committed JSON Schemas are exactly what the code's schemas generate (`npm run schema` rewrites them). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { toJsonSchema } from '@valibot/to-json-schema';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../src/config/schema.js';
import { MelodySchema } from '../src/conductor/melody.js';
import { schemaFiles } from '../scripts/schema.mjs';

describe('the shipped JSON Schemas', () => {
  const generated = schemaFiles({ ConfigSchema, MelodySchema }, toJsonSchema);
  for (const [file, text] of Object.entries(generated)) {
    it(`schema/${file} is the generated one (run npm run schema after changing a schema)`, () => {
      expect(readFileSync(resolve(import.meta.dirname, '../schema', file), 'utf8')).toBe(text);
    });
  }
});
