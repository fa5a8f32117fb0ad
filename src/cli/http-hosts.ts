import { isIP } from 'node:net';

/**
 * The Host allow-list of the health endpoints (no DNS rebinding). A page on another origin can make
 * a browser send requests to our port by pointing its own name at 127.0.0.1; the request then
 * carries that name in Host. So a request is answered only when the name it used is one that cannot
 * be rebound: `localhost` and `*.localhost` (RFC 6761: always loopback), an IP literal (the browser's
 * origin is then the address itself, and a kubelet probe names the pod's IP), or a name the operator
 * lists in `http.hosts`. The port plays no part for the built-in names: the attacker's URL must
 * name our port to reach us at all, and a port-forward (`kubectl port-forward`, `docker -p`) shows
 * its own.
 */
export class HostAllowList {
  readonly #any: boolean;
  readonly #exact = new Map<string, Set<number> | 'any'>();
  readonly #suffixes: { suffix: string; port: number | undefined }[] = [];

  /** `patterns`: entries of `http.hosts` (checked with the config): `name`, `*.domain`, either with `:PORT`, or `*`. */
  constructor(patterns: readonly string[] = []) {
    this.#any = patterns.includes('*');
    for (const p of patterns) {
      if (p === '*') continue;
      const a = parseAuthority(p);
      if (!a) continue;
      if (a.name.startsWith('*.')) this.#suffixes.push({ suffix: a.name.slice(1), port: a.port });
      else {
        const had = this.#exact.get(a.name);
        if (a.port === undefined || had === 'any') this.#exact.set(a.name, 'any');
        else this.#exact.set(a.name, new Set([...(had ?? []), a.port]));
      }
    }
  }

  /**
   * Whether a request naming `authority` (the Host header, or the absolute-form target's authority;
   * undefined when there is none) is answered. `defaultPort` is the port an authority without one means.
   */
  allows(authority: string | undefined, defaultPort = 80): boolean {
    // No Host at all: only HTTP/1.0 gets here (Node answers 400 to HTTP/1.1 without one), and no
    // browser sends a request without Host, so it cannot be a rebinding.
    if (authority === undefined || authority === '') return true;
    if (this.#any) return true;
    const a = parseAuthority(authority);
    if (!a || a.name.startsWith('*')) return false;
    if (a.name === 'localhost' || a.name.endsWith('.localhost')) return true;
    if (isIP(a.name) === 4 || (a.name.startsWith('[') && isIP(a.name.slice(1, -1)) === 6)) return true;
    const port = a.port ?? defaultPort;
    const exact = this.#exact.get(a.name);
    if (exact === 'any' || exact?.has(port)) return true;
    return this.#suffixes.some((s) => a.name.endsWith(s.suffix) && a.name.length > s.suffix.length && (s.port === undefined || s.port === port));
  }
}

/** `name[:port]` or `[v6]:port`, lowercased, a trailing dot dropped; undefined when it is neither. */
export function parseAuthority(text: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^\s:@/[\]]+)(?::(\d{1,5}))?$/i.exec(text.trim());
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65535) return undefined;
  let name = m[1]!.toLowerCase();
  if (name.endsWith('.') && name.length > 1) name = name.slice(0, -1);
  return { name, port };
}
