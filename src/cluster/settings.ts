import { readFileSync } from 'node:fs';
import { toMs, type Duration } from '../util/duration.js';

/** `cluster:` of a system file (docs/cluster.md): this kernel is the node NAME of the cluster its NATS servers join. */
export interface ClusterSettings {
  /** This node's name, unique in the cluster (letters, digits, `-`, `_`). */
  node: string;
  /** NATS servers to connect to (`nats://HOST:PORT`); the client fails over between them. */
  servers: readonly string[];
  /** NATS user name of this node (with `password`). */
  user?: string;
  /** The user's password: `env:NAME` or `file:PATH` (never written in the file itself). */
  password?: string;
  /** The node's NATS nkey seed: `env:NAME` or `file:PATH`. */
  nkey?: string;
  /** Subjects this cluster uses all start with it (default `symphony`): the NATS permissions of a node are `PREFIX.>`. */
  prefix?: string;
  /** Interval of the heartbeats between nodes (default 250ms); a node silent for four of them is gone. */
  heartbeat?: Duration;
  /** How long the boot waits for a NATS server to answer (default 5s). */
  connectTimeout?: Duration;
  /** Methods of this node other nodes may call (default every method, `>`); the rest answer -32002. */
  accept?: readonly string[];
  /** A node that cannot join leaves the system degraded instead of failing its boot. */
  optional?: boolean;
}

export interface ResolvedSettings {
  node: string;
  servers: string[];
  prefix: string;
  heartbeatMs: number;
  connectTimeoutMs: number;
  accept: string[];
  user: string | undefined;
  /** Secrets, read from the environment or a file; never logged. */
  password: string | undefined;
  nkeySeed: string | undefined;
}

export const NODE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const PREFIX = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/** `nats://HOST:PORT` (also tls://; the port may be left out): what the NATS client accepts, checked before it sees it. */
export function parseServerUrl(url: string): URL | undefined {
  if (typeof url !== 'string' || /\s/.test(url)) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'nats:' && u.protocol !== 'tls:') return undefined;
  if (!u.hostname || u.username || u.password || (u.pathname && u.pathname !== '/') || u.search || u.hash) return undefined;
  return u;
}

/** A secret setting: `env:NAME` or `file:PATH`; the error names the setting, never its value. */
export function readSecret(setting: string | undefined, what: string): string | undefined {
  if (setting === undefined) return undefined;
  if (setting.startsWith('env:')) {
    const name = setting.slice(4);
    const value = process.env[name];
    if (!value) throw new Error(`cluster.${what} is env:${name}, but ${name} is not set`);
    return value;
  }
  if (setting.startsWith('file:')) {
    const path = setting.slice(5);
    try {
      return readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new Error(`cluster.${what} is file:${path}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  throw new Error(`cluster.${what} must be env:NAME or file:PATH (a secret is never written in the config itself)`);
}

export function resolveSettings(s: ClusterSettings): ResolvedSettings {
  if (!s || typeof s.node !== 'string' || !NODE_NAME.test(s.node)) throw new Error(`cluster.node must be a name of letters, digits, - and _ (got ${JSON.stringify(s?.node)})`);
  if (!Array.isArray(s.servers) || s.servers.length === 0) throw new Error('cluster.servers must list at least one NATS server, e.g. [nats://127.0.0.1:4222]');
  for (const url of s.servers) if (!parseServerUrl(url)) throw new Error(`cluster.servers: '${url}' is not a NATS server URL (nats://HOST:PORT)`);
  const prefix = s.prefix ?? 'symphony';
  if (!PREFIX.test(prefix)) throw new Error(`cluster.prefix must be dot-separated words (got '${prefix}')`);
  if (s.password !== undefined && s.user === undefined) throw new Error('cluster.password needs cluster.user');
  return {
    node: s.node,
    servers: [...s.servers],
    prefix,
    heartbeatMs: Math.max(20, s.heartbeat === undefined ? 250 : toMs(s.heartbeat, 'cluster.heartbeat')),
    connectTimeoutMs: s.connectTimeout === undefined ? 5000 : toMs(s.connectTimeout, 'cluster.connectTimeout'),
    accept: [...(s.accept ?? ['>'])],
    user: s.user,
    password: readSecret(s.password, 'password'),
    nkeySeed: readSecret(s.nkey, 'nkey'),
  };
}
