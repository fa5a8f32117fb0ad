import { performance } from 'node:perf_hooks';
import { BusError, connect, ErrorCode, type BusClient } from '../bus/index.js';

/**
 * The page's actions (restart, bring out of quarantine, run a melody) are bus calls made as the
 * operator: the dashboard connects to the bus's socket with the token the page gives and says
 * hello with it, so the bus itself, not this file, decides whether the token is the operator's
 * (the same check `symphony restart` passes). The token is never kept past the call, never logged.
 */

export class ActionRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Failed hellos tolerated within a window before answers slow down to 429s (no guessing at speed). */
const MAX_FAILURES = 5;
const FAILURE_WINDOW_MS = 10_000;

export class OperatorActions {
  readonly #socket: () => string | undefined;
  readonly #failures: number[] = [];

  constructor(socketPath: () => string | undefined) {
    this.#socket = socketPath;
  }

  /** Where actions stand: available, or why not (no socket to reach the bus as the operator). */
  availability(): { available: boolean; why?: string } {
    return this.#socket() ? { available: true } : { available: false, why: 'the bus does not listen on a socket (builtin:bus with listen: none), so no operator can act from here' };
  }

  /** Calls `method` as the operator whose token this is; refused (401) when the bus does not take the token. */
  async call(token: string | undefined, method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const path = this.#socket();
    if (!path) throw new ActionRefused(503, this.availability().why!);
    if (!token) throw new ActionRefused(401, 'no operator token: actions need it (Authorization: Bearer TOKEN); the page is read-only without it');
    const now = performance.now();
    while (this.#failures.length && now - this.#failures[0]! > FAILURE_WINDOW_MS) this.#failures.shift();
    if (this.#failures.length >= MAX_FAILURES) throw new ActionRefused(429, `too many refused tokens in the last ${FAILURE_WINDOW_MS / 1000}s: wait and try again`);
    let client: BusClient;
    try {
      client = await connect({ path, token, name: 'dashboard', transport: 'socket', reconnect: false, exitWithParent: false, timeout: timeoutMs });
    } catch (err) {
      if (err instanceof BusError && err.code === ErrorCode.Unauthorized) {
        this.#failures.push(performance.now());
        throw new ActionRefused(401, 'the bus refused the token: it is not the operator token (see docs/dashboard.md for where to find it)');
      }
      throw new ActionRefused(503, `cannot reach the bus as the operator: ${(err as Error).message}`);
    }
    try {
      return await client.request(method, params, { timeout: timeoutMs });
    } finally {
      void client.stop();
    }
  }
}
