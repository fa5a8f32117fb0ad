import { defineComponent } from '../bootstrap/index.js';
import { Bus } from '../bus/index.js';
import { ClusterNode, type NatsModule } from './node.js';
import { resolveSettings, type ClusterSettings } from './settings.js';

/** What the system hands the cluster component: the `cluster:` table and the bus component's name. */
export interface ClusterComponentConfig extends ClusterSettings {
  bus: string;
}

/**
 * The cluster as a component (the system adds it when a config has `cluster:`; it starts after
 * every other part and stops before them): it connects to NATS, refuses a name another live node
 * has, and joins. The NATS client is imported here, so a system without `cluster:` never loads it.
 */
export const clusterComponent = defineComponent({
  async start(ctx): Promise<ClusterNode> {
    const { bus: busName, ...raw } = (ctx.config ?? {}) as ClusterComponentConfig;
    const bus: unknown = (ctx.deps as Record<string, unknown>)[busName];
    if (!(bus instanceof Bus)) throw new Error(`cluster: '${busName}' is not a running builtin:bus (the cluster joins this kernel's bus to the others)`);
    const settings = resolveSettings(raw);
    const nats = (await import('@nats-io/transport-node')) as NatsModule;
    const nc = await connectNats(nats, settings, ctx.signal);
    const node = new ClusterNode(bus, nc, settings, nats, ctx.log, (err) => ctx.fail(err), ctx.name);
    try {
      await node.join(settings.connectTimeoutMs);
    } catch (err) {
      await node.leave('its join failed');
      throw err;
    }
    ctx.log.info(`joined the cluster as node '${settings.node}' through ${nc.getServer()} (nodes seen so far: ${node.nodes().map((n) => n.node).join(', ')})`);
    return node;
  },
  health(node) {
    return node.health();
  },
  async stop(node) {
    await node.leave('the node is stopping');
  },
});

/** Connects to one of the servers within connectTimeout (clearly refused otherwise); later drops reconnect forever. */
async function connectNats(nats: NatsModule, s: ReturnType<typeof resolveSettings>, signal: AbortSignal) {
  const attempt = nats.connect({
    servers: s.servers,
    name: `symphony node ${s.node}`,
    noEcho: true,
    timeout: s.connectTimeoutMs,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 5000,
    maxPingOut: 2,
    ...(s.user !== undefined ? { user: s.user } : {}),
    ...(s.password !== undefined ? { pass: s.password } : {}),
    ...(s.nkeySeed !== undefined ? { authenticator: nats.nkeyAuthenticator(new TextEncoder().encode(s.nkeySeed)) } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const where = s.servers.join(', ');
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cluster: no NATS server answered within ${s.connectTimeoutMs}ms (servers: ${where}): start nats-server there or fix cluster.servers (optional: true lets the system boot without the cluster)`)), s.connectTimeoutMs);
    onAbort = () => reject(new Error(`cluster: joining was abandoned (the start deadline passed) while connecting to ${where}`));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([attempt, gaveUp]);
  } catch (err) {
    // A connection that comes up after we gave up is closed, not leaked.
    attempt.then((nc) => nc.close(), () => {});
    const e = err as Error;
    if (e.message.startsWith('cluster:')) throw e;
    // The client's message names the server and the cause; credentials are never part of it.
    const auth = /authoriz|authentic|permission/i.test(`${e.name} ${e.message}`);
    throw new Error(
      auth
        ? `cluster: the NATS servers refused node '${s.node}''s credentials${s.user ? ` (user '${s.user}')` : ''}: ${e.message}`
        : `cluster: cannot reach any NATS server (servers: ${where}): ${e.message}: start nats-server there or fix cluster.servers (optional: true lets the system boot without the cluster)`,
    );
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
