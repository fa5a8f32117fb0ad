import type * as v from 'valibot';
import { describe, expectTypeOf, it } from 'vitest';
import type { BusSettings, BusSettingsSchema } from '../../src/bus/index.js';
import type { ConductorSettings, ConductorSettingsSchema } from '../../src/conductor/index.js';
import type { Grant, OrchestraSettings, OrchestraSettingsSchema } from '../../src/orchestra/index.js';
import type { PitSettings, PitSettingsSchema } from '../../src/pit/index.js';

describe("each builtin's settings type is its schema's", () => {
  it('the bus, the Orchestra (and a grant), the Conductor and the Pit', () => {
    expectTypeOf<BusSettings>().toEqualTypeOf<v.InferOutput<typeof BusSettingsSchema>>();
    expectTypeOf<OrchestraSettings>().toEqualTypeOf<v.InferOutput<typeof OrchestraSettingsSchema>>();
    expectTypeOf<ConductorSettings>().toEqualTypeOf<v.InferOutput<typeof ConductorSettingsSchema>>();
    expectTypeOf<PitSettings>().toEqualTypeOf<v.InferOutput<typeof PitSettingsSchema>>();
  });

  it('a key has the type its schema checks, and a key the schema lacks is no setting', () => {
    expectTypeOf<BusSettings['maxFrameBytes']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<BusSettings['heartbeat']>().toEqualTypeOf<string | number | undefined>();
    expectTypeOf<OrchestraSettings['isolation']>().toEqualTypeOf<'auto' | 'strict' | undefined>();
    expectTypeOf<Grant['manifest']>().toEqualTypeOf<string | string[]>();
    expectTypeOf<ConductorSettings['melodies']>().toEqualTypeOf<string[] | undefined>();
    expectTypeOf<PitSettings['bufferEvents']>().toEqualTypeOf<number | undefined>();
    // @ts-expect-error: Type '"maxFrameByte"' is not assignable to type
    const typo: keyof BusSettings = 'maxFrameByte';
    void typo;
    // @ts-expect-error: Type 'string' is not assignable to type 'number'
    const bad: BusSettings = { maxFrameBytes: 'big' };
    void bad;
  });
});
