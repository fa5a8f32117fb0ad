/**
 * The entry point of an isolated extension's process (runs under Node's permission model). Joins
 * the bus over stdio with the token the kernel gave it, imports the extension, activates it, says
 * ready; deactivates on SIGTERM; exits when the kernel is gone (stdin EOF).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect } from '../bus/client/index.js';
import { installGuard } from './guard.js';
import type { ExtensionContext, ExtensionModule } from './api.js';
import type { BusApi } from '../bus/index.js'; // types only: erased, costs no start time

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: host.js EXTENSION_DIR\n');
  process.exit(2);
}

const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; main?: string; symphony?: { permissions?: { net?: boolean } } };
const log = (level: string) => (message: string, data?: Record<string, unknown>) =>
  process.stderr.write(`${JSON.stringify({ level, message, ...(data ? { data } : {}) })}\n`);

async function main(): Promise<void> {
  const bus = await connect({ name: pkg.name });
  // After the host's own setup, before any of the extension's code. Its manifest is what runs:
  // one asking more than its grant is never started.
  installGuard({ net: pkg.symphony?.permissions?.net === true });
  let ext: ExtensionModule;
  try {
    const mod = (await import(pathToFileURL(resolve(dir!, pkg.main ?? 'index.js')).href)) as { default?: ExtensionModule };
    if (!mod.default || typeof mod.default.activate !== 'function') throw new TypeError(`${pkg.main ?? 'index.js'} has no default export with an activate(ctx) function`);
    ext = mod.default;
  } catch (err) {
    log('error')(`cannot load the extension: ${(err as Error).message}`);
    process.exit(3);
  }
  // The extension's registrations, awaited before ready: a method the bus refuses (another
  // extension serves it, or the manifest does not provide it) fails the activation, named.
  const registrations: { method: string; ready: Promise<void> }[] = [];
  const extensionBus: BusApi = {
    name: bus.name,
    request: (method, params, options) => bus.request(method, params, options),
    handle: (method, handler) => {
      const r = bus.handle(method, handler);
      registrations.push({ method, ready: r.ready });
      return r;
    },
    notify: (method, params) => bus.notify(method, params),
    publish: (topic, data) => bus.publish(topic, data),
    subscribe: (pattern, listener, options) => bus.subscribe(pattern, listener, options),
    stats: () => bus.stats(),
  };
  const ctx: ExtensionContext = {
    name: pkg.name,
    version: pkg.version,
    dir: dir!,
    bus: extensionBus,
    config: JSON.parse(process.env.SYMPHONY_EXTENSION_CONFIG ?? 'null') as unknown,
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  };
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await ext.deactivate?.();
    } finally {
      await bus.stop();
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  try {
    await ext.activate(ctx);
  } catch (err) {
    log('error')(`activate failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    process.exit(4);
  }
  const outcomes = await Promise.allSettled(registrations.map((r) => r.ready));
  const refused = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`'${registrations[i]!.method}': ${(o.reason as Error)?.message ?? String(o.reason)}`] : []));
  if (refused.length) {
    log('error')(`activate failed: the bus refused ${refused.join('; ')}`);
    process.exit(4);
  }
  bus.ready();
}

main().catch((err: unknown) => {
  log('error')(`the extension host failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
