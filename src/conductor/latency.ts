/** The observed latency of each method a step called, across runs: what the policy picks a provider by. */
export class Latencies {
  readonly #byMethod = new Map<string, { total: number; n: number }>();

  /** The mean in ms; null for a method not called yet. */
  mean(method: string): number | null {
    const l = this.#byMethod.get(method);
    return l ? l.total / l.n : null;
  }

  record(method: string, ms: number): void {
    const l = this.#byMethod.get(method) ?? { total: 0, n: 0 };
    l.total += ms;
    l.n++;
    this.#byMethod.set(method, l);
  }
}
