import { readFileSync } from 'node:fs';
import { defineComponent, suggest } from '../bootstrap/index.js';
import { parseSettings } from '../util/settings.js';
import type { BusEvent } from './api.js';
import { Bus } from './bus.js';
import { BusSettingsSchema } from './settings/index.js';

/**
 * `builtin:bus`: the bus as a kernel component. Its instance (what `ctx.deps.bus` is) is the Bus:
 * request / handle / notify / publish / subscribe / stats, plus spawnPeer and the socket path.
 */
export const busComponent = defineComponent({
  async start(ctx): Promise<Bus> {
    const settings = parseSettings(BusSettingsSchema, ctx.config, { builtin: 'bus', component: ctx.name }, suggest);
    const bus = new Bus({
      maxFrameBytes: settings.maxFrameBytes,
      maxInFlight: settings.maxInFlight,
      maxOutputBytes: settings.maxOutputBytes,
      heartbeat: settings.heartbeat,
      defaultTimeout: settings.defaultTimeout,
      maxPeerBytes: settings.maxPeerBytes,
      maxPendingHellos: settings.maxPendingHellos,
      helloTimeout: settings.helloTimeout,
    });
    bus.onEvent((e: BusEvent) => {
      switch (e.type) {
        case 'peer':
          return ctx.log.info(`peer '${e.peer}' ${e.state}${e.reason ? `: ${e.reason}` : ''}`);
        case 'denied':
          return ctx.log.warn(e.action === 'hello' ? `denied: hello from '${e.peer}': ${e.subject}` : `denied: '${e.peer}' ${e.action} '${e.subject}'`);
        case 'protocol-error':
          return ctx.log.warn(`bad frame from '${e.peer}': ${e.detail}`);
        case 'handler-error':
          return ctx.log.warn(`'${e.method}' failed in '${e.peer}': ${e.error}`);
        case 'slow-consumer':
          return ctx.log.warn(`slow consumer '${e.peer}': ${e.detail}`);
      }
    });
    const listen = settings.listen ?? 'auto';
    if (listen !== 'none') {
      const setting = settings.token ?? 'auto';
      const operatorToken = bus.issueToken('operator', undefined, { operator: true, token: operatorTokenFrom(setting) });
      // An auto token is written beside the socket (mode 0600) for the operator's tools; one from env stays where it is.
      const server = await bus.listen({ path: listen, operatorToken: setting === 'auto' ? operatorToken : undefined });
      ctx.log.info(`listening on ${server.path}`);
    }
    return bus;
  },
  health(bus) {
    const stats = bus.stats();
    return { status: 'healthy', detail: { peers: stats.peers.length, inflight: stats.inflight, methods: stats.methods } };
  },
  async stop(bus) {
    await bus.stop('the system is stopping');
  },
});

function operatorTokenFrom(setting: string): string | undefined {
  if (setting === 'auto') return undefined;
  if (setting.startsWith('env:')) {
    const name = setting.slice(4);
    const value = process.env[name];
    if (!value) throw new Error(`builtin:bus: token is env:${name}, but ${name} is not set`);
    return value;
  }
  if (setting.startsWith('file:')) return readFileSync(setting.slice(5), 'utf8').trim();
  throw new Error(`builtin:bus: token must be auto, env:NAME or file:PATH (got '${setting}')`);
}
