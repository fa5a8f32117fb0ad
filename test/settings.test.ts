/**
 * The builtins' settings, declared once by each part (src/PART/settings): the config loader the
 * system gives them to checks `with:` at its position, and a component started from code checks
 * its settings with the same schema and the same words.
 */
import { describe, expect, it } from 'vitest';
import { BusSettingsSchema } from '../src/bus/index.js';
import { loadSystemText as loadWithoutBuiltins } from '../src/config/index.js';
import { BootError, createKernel } from '../src/index.js';
import { builtinNames, builtinSettings, ConfigError, loadSystemText } from '../src/system/index.js';
import { parseSettings } from '../src/util/settings.js';

const suggestNone = () => '';

async function bootFailure(settings: Record<string, unknown>): Promise<BootError['report']['failure']> {
  const k = createKernel({ components: { wire: { use: 'builtin:bus', with: { listen: 'none', ...settings } } } });
  const err = await k.start().then(
    async () => {
      await k.stop();
      throw new Error('the boot should have failed');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BootError);
  return (err as BootError).report.failure;
}

async function loaderMessages(yaml: string): Promise<string[]> {
  const err = await loadSystemText('/tmp/settings.yaml', yaml).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).diagnostics.map((d) => `${d.line}:${d.col}: ${d.message}`);
}

describe('builtin settings from code (createKernel)', () => {
  it('a wrong type fails the boot naming the component, the builtin and the key', async () => {
    const failure = await bootFailure({ maxFrameBytes: 'big' });
    expect(failure).toMatchObject({ component: 'wire', phase: 'start' });
    expect(failure?.message).toContain(`in component 'wire' (builtin:bus): maxFrameBytes must be a number (got "big")`);
  });

  it('an unknown key fails the boot with a suggestion and the known keys', async () => {
    const failure = await bootFailure({ maxFrameByte: 1024 });
    expect(failure?.message).toContain(`unknown key 'maxFrameByte' in the settings of builtin:bus (component 'wire') (did you mean 'maxFrameBytes'?) (known keys: ${Object.keys(BusSettingsSchema.entries).join(', ')})`);
  });

  it('good settings boot, typed', async () => {
    const k = createKernel({ components: { wire: { use: 'builtin:bus', with: { listen: 'none', maxFrameBytes: 4096, heartbeat: '1s' } } } });
    await k.start();
    await k.stop();
  });

  it('keeps what travels beside the settings under a symbol key (where the config wrote them)', () => {
    const where = Symbol.for('symphony.settingsSource');
    const parsed = parseSettings(BusSettingsSchema, { listen: 'none', [where]: 'here' }, { builtin: 'bus', component: 'bus' }, suggestNone);
    expect((parsed as Record<symbol, unknown>)[where]).toBe('here');
    expect(Object.keys(parsed)).toEqual(['listen']);
  });
});

describe('builtin settings in a config file', () => {
  it('each builtin name has its schema, from its part', async () => {
    for (const name of builtinNames()) expect((await builtinSettings(name as never)).type).toBe('strict_object');
  });

  it('the system gives the loader the schemas: the same words as from code, at FILE:LINE:COL', async () => {
    const yaml = 'components:\n  wire:\n    use: builtin:bus\n    with:\n      maxFrameBytes: big\n';
    expect(await loaderMessages(yaml)).toEqual([`5:22: in component 'wire' (builtin:bus): maxFrameBytes must be a number (got "big")`]);
    // The config layer declares no builtin's settings: without the system's schemas it checks none.
    await expect(loadWithoutBuiltins('/tmp/settings.yaml', yaml)).resolves.toMatchObject({ components: { wire: { with: { maxFrameBytes: 'big' } } } });
  });

  it('lists the known keys of the settings and of a grant, found in the schema; a fixed table inside them gets none', async () => {
    const yaml = [
      'components:',
      '  bus: { use: builtin:bus }',
      '  orchestra:',
      '    use: builtin:orchestra',
      '    needs: [bus]',
      '    with:',
      '      watchh: true',
      '      restart: { maxx: 3 }',
      '      grants:',
      '        ext: { manifest: any, net: true, nett: true }',
      '        other: { net: true }',
      '',
    ].join('\n');
    expect(await loaderMessages(yaml)).toEqual([
      `7:7: unknown key 'watchh' in the settings of builtin:orchestra (component 'orchestra') (did you mean 'watch'?) (known keys: paths, watch, restart, backoff, config, grants, isolation, limits)`,
      `8:18: unknown key 'restart.maxx' in the settings of builtin:orchestra (component 'orchestra')`,
      `10:42: unknown key 'grants.ext.nett' in the settings of builtin:orchestra (component 'orchestra') (did you mean 'net'?) (known keys: manifest, execution, provides, calls, publishes, subscribes, fsRead, fsWrite, net, childProcess, workers, limits)`,
      `11:9: in component 'orchestra' (builtin:orchestra): missing key 'grants.other.manifest': a grant is pinned to the manifest it was given for (symphony grant PATH prints the pin)`,
    ]);
  });
});
