import type { Kernel } from '../bootstrap/index.js';
import { formatMs } from '../util/duration.js';
import type { HealthServer } from './health.js';

/**
 * How `symphony up` stops on a signal. First signal: an orderly stop (a boot under way is rolled
 * back). Second: exit at once. With http.drain, SIGTERM (what Kubernetes sends) first drains a
 * running system: /readyz answers 503, so load balancers stop sending traffic, while everything,
 * the listener included, keeps serving. Ctrl-C (SIGINT) does not wait.
 */
export class UpSignals {
  /** The first signal received, if any. */
  signalled: NodeJS.Signals | undefined;
  /** Resolves when the drain is over (at once without one). */
  drained: Promise<void> = Promise.resolve();
  /** Aborted by a signal during the boot: the boot is rolled back. */
  readonly interrupt = new AbortController();
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly kernel: Kernel,
    readonly health: HealthServer | undefined,
    readonly drainMs: number,
  ) {}

  /** Listens for SIGINT and SIGTERM, and (started by another program) for its parent's death. */
  listen(): void {
    const onSignal = (sig: NodeJS.Signals) => this.#received(sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Started by another program (python3 -m symphony_conductor up): stop if it dies without a word.
    if (process.env.SYMPHONY_EXIT_WITH_PARENT === '1') {
      const parent = process.ppid;
      setInterval(() => {
        if (process.ppid !== parent && !this.signalled) onSignal('SIGTERM');
      }, 250).unref();
    }
  }

  /** The exit code of a stop by the signal received (130 for SIGINT, 143 for SIGTERM). */
  get code(): number {
    return this.signalled === 'SIGINT' ? 130 : 143;
  }

  /** Stopped during the drain (an escalation): nothing left to wait for. */
  endDrain(): void {
    clearTimeout(this.#drainTimer);
  }

  #received(sig: NodeJS.Signals): void {
    const k = this.kernel;
    const code = sig === 'SIGINT' ? 130 : 143;
    if (this.signalled) {
      process.stderr.write(`symphony: second ${sig}, exiting now\n`);
      process.exit(code);
    }
    this.signalled = sig;
    this.health?.drain(`${sig} received`);
    if (k.phase === 'booting') {
      process.stderr.write(`symphony: ${sig} received, stopping (send it again to exit at once)\n`);
      this.interrupt.abort({ signal: sig });
    } else if (sig === 'SIGTERM' && this.drainMs > 0 && this.health && k.phase === 'running') {
      process.stderr.write(`symphony: ${sig} received, draining for ${formatMs(this.drainMs)} (/readyz answers 503), then stopping (send it again to exit at once)\n`);
      this.drained = new Promise((r) => (this.#drainTimer = setTimeout(r, this.drainMs)));
      void this.drained.then(() => k.stop(`${sig} received`)).catch(() => {});
    } else {
      process.stderr.write(`symphony: ${sig} received, stopping (send it again to exit at once)\n`);
      void k.stop(`${sig} received`).catch(() => {});
    }
  }
}
