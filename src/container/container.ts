import { toMs, type Duration } from '../util/duration.js';
import { toError } from '../util/errors.js';
import { teardownInReverse } from './teardown.js';
import type { AnyToken, Token, TokenValues } from './token.js';

/**
 * `singleton`: one instance per container tree, made on first resolve, stopped with the root.
 * `scoped`: one instance per scope (`createScope()`), stopped with that scope.
 * `transient`: a new instance per resolve, stopped with the container that made it.
 */
export type Lifetime = 'singleton' | 'scoped' | 'transient';

export interface Provider<T, D extends readonly Token<any>[] = readonly Token<any>[]> {
  lifetime?: Lifetime;
  /** Tokens resolved first and passed to `factory` in the same order. */
  deps?: D;
  factory: (...deps: TokenValues<D>) => T | Promise<T>;
  /** Releases an instance; called in reverse dependency order. */
  stop?: (value: T, signal: AbortSignal) => unknown;
  /** Deadline for `stop` (default 5s). */
  stopTimeout?: Duration;
}

export class ContainerError extends Error {
  override name = 'ContainerError';
}
/** A token resolved with nothing registered for it; `path` is the chain of resolutions that asked for it. */
export class MissingProviderError extends ContainerError {
  override name = 'MissingProviderError';
  constructor(readonly token: string, readonly path: readonly string[]) {
    super(
      path.length
        ? `no provider for '${token}' (needed by ${path.join(' -> ')})`
        : `no provider for '${token}'`,
    );
  }
}
/** A resolution that reaches itself; `cycle` is the path, first and last names equal. */
export class CircularDependencyError extends ContainerError {
  override name = 'CircularDependencyError';
  constructor(readonly cycle: readonly string[]) {
    super(`circular dependency: ${cycle.join(' -> ')}`);
  }
}
/** A singleton that depends on something scoped would keep one scope's instance forever. */
export class LifetimeError extends ContainerError {
  override name = 'LifetimeError';
}

interface Registration {
  readonly token: AnyToken;
  readonly lifetime: Lifetime;
  readonly deps: readonly AnyToken[];
  readonly factory: (...deps: unknown[]) => unknown;
  readonly stop?: (value: unknown, signal: AbortSignal) => unknown;
  readonly stopTimeoutMs: number;
}

/** One made instance, remembered for disposal with the instances it was made from. */
interface Made {
  readonly registration: Registration;
  readonly value: unknown;
  readonly from: readonly Made[];
}

const DEFAULT_STOP_MS = 5000;

/**
 * A typed dependency-injection container. Resolution is async (factories may be), concurrent
 * resolutions of one singleton share one construction, a cycle fails with its path, and disposal
 * runs in reverse dependency order with a deadline per instance. After a token is resolved,
 * `get(token)` is an array index.
 */
export class Container implements AsyncDisposable {
  readonly #registrations: (Registration | undefined)[];
  readonly #root: Container | undefined;
  /** Settled instances by token id, for this container's cache (singletons at the root, scoped in scopes). */
  readonly #values: unknown[] = [];
  readonly #made: (Made | undefined)[] = [];
  readonly #pending = new Map<number, Promise<Made>>();
  readonly #owned: Made[] = [];
  readonly #scopes = new Set<Container>();
  #stopped = false;

  constructor(parent?: Container) {
    this.#root = parent ? (parent.#root ?? parent) : undefined;
    this.#registrations = parent ? parent.#registrations : [];
  }

  /** Registers how to make `token`'s value. Registering a token twice replaces the first. */
  register<T, const D extends readonly Token<any>[] = []>(token: Token<T>, provider: Provider<T, D>): this {
    this.#assertOpen();
    this.#registrations[token.id] = {
      token,
      lifetime: provider.lifetime ?? 'singleton',
      deps: (provider.deps ?? []) as readonly AnyToken[],
      factory: provider.factory as (...deps: unknown[]) => unknown,
      stop: provider.stop as Registration['stop'],
      stopTimeoutMs: provider.stopTimeout === undefined ? DEFAULT_STOP_MS : toMs(provider.stopTimeout, `stopTimeout of '${token.name}'`),
    };
    return this;
  }

  /** Registers a ready-made singleton value (with an optional release function). */
  value<T>(token: Token<T>, value: T, stop?: (value: T, signal: AbortSignal) => unknown): this {
    return this.register(token, { factory: () => value, stop });
  }

  /**
   * Replaces what `token` resolves to, for tests. The replacement must have the token's type: a value
   * or a provider of `T`. Only before the token was first resolved (an instance in use is not swapped under its users).
   */
  override<T, const D extends readonly Token<any>[] = []>(token: Token<T>, replacement: { value: T } | Provider<T, D>): this {
    if (this.#rootCache().#made[token.id] !== undefined || this.#made[token.id] !== undefined) {
      throw new ContainerError(`cannot override '${token.name}': it was already resolved`);
    }
    const lifetime = this.#registrations[token.id]?.lifetime ?? 'singleton';
    if ('value' in replacement) {
      const v = replacement.value;
      return this.register(token, { lifetime, factory: () => v });
    }
    return this.register(token, { lifetime, ...replacement });
  }

  has(token: AnyToken): boolean {
    return this.#registrations[token.id] !== undefined;
  }

  /** Resolves `token`, making it and its dependencies as needed. */
  resolve<T>(token: Token<T>): Promise<T> {
    const cache = this.#cacheFor(token.id);
    const cached = cache ? cache.#values[token.id] : undefined;
    if (cached !== undefined) return Promise.resolve(cached as T);
    return this.#resolveMade(token, []).then((m) => m.value as T);
  }

  /**
   * The value of a token already resolved (a singleton or a scoped instance of this scope): an
   * array index, no promise. Throws when it has not been resolved yet.
   */
  get<T>(token: Token<T>): T {
    const v = this.#values[token.id];
    if (v !== undefined) return v as T;
    return this.#getSlow(token);
  }

  #getSlow<T>(token: Token<T>): T {
    const root = this.#root;
    if (root) {
      const v = root.#values[token.id];
      if (v !== undefined) return v as T;
    }
    const reg = this.#registrations[token.id];
    if (!reg) throw new MissingProviderError(token.name, []);
    const cache = this.#cacheFor(token.id);
    const made = cache ? cache.#made[token.id] : undefined;
    if (made) return made.value as T; // a resolved undefined
    throw new ContainerError(`'${token.name}' is not resolved yet: await container.resolve() first`);
  }

  /** A child container: scoped tokens get one instance per scope; singletons still come from the root. */
  createScope(): Container {
    this.#assertOpen();
    const scope = new Container(this);
    (this.#root ?? this).#scopes.add(scope);
    return scope;
  }

  /**
   * Checks every registration's dependencies without making anything: throws the first missing
   * provider or cycle, with its path.
   */
  validate(): void {
    const state = new Map<number, 'visiting' | 'done'>();
    const visit = (reg: Registration, path: string[]) => {
      const s = state.get(reg.token.id);
      if (s === 'done') return;
      if (s === 'visiting') {
        const at = path.indexOf(reg.token.name);
        throw new CircularDependencyError([...path.slice(at), reg.token.name]);
      }
      state.set(reg.token.id, 'visiting');
      for (const dep of reg.deps) {
        const d = this.#registrations[dep.id];
        if (!d) throw new MissingProviderError(dep.name, [...path, reg.token.name]);
        if (reg.lifetime === 'singleton' && d.lifetime === 'scoped') throw captive(reg, d);
        visit(d, [...path, reg.token.name]);
      }
      state.set(reg.token.id, 'done');
    };
    for (const reg of this.#registrations) if (reg) visit(reg, []);
  }

  /**
   * Disposes what this container made (and, for the root, every open scope first), in reverse
   * dependency order, concurrently where independent, each within its deadline. Rejects with an
   * AggregateError of every failure; disposal still reaches every instance.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const errors: Error[] = [];
    if (!this.#root) {
      for (const scope of this.#scopes) {
        try {
          await scope.stop();
        } catch (err) {
          errors.push(...(err instanceof AggregateError ? (err.errors as Error[]) : [toError(err, 'scope stop')]));
        }
      }
    } else {
      this.#root.#scopes.delete(this);
    }
    const owned = this.#owned.filter((m) => m.registration.stop);
    errors.push(
      ...(await teardownInReverse(owned, {
        dependenciesOf: (m) => m.from,
        stop: (m, signal) => m.registration.stop!(m.value, signal),
        timeoutMs: (m) => m.registration.stopTimeoutMs,
        describe: (m) => m.registration.token.name,
      })),
    );
    this.#owned.length = 0;
    if (errors.length) throw new AggregateError(errors, `${errors.length} instance(s) failed to stop: ${errors.map((e) => e.message).join('; ')}`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Which container caches `id`: the root for singletons, this scope for scoped, none for transient. */
  #cacheFor(id: number): Container | undefined {
    const reg = this.#registrations[id];
    if (!reg || reg.lifetime === 'singleton') return this.#rootCache();
    return reg.lifetime === 'scoped' ? this : undefined;
  }

  #rootCache(): Container {
    return this.#root ?? this;
  }

  #assertOpen(): void {
    if (this.#stopped) throw new ContainerError('container is stopped');
  }

  async #resolveMade(token: AnyToken, path: string[]): Promise<Made> {
    this.#assertOpen();
    const reg = this.#registrations[token.id];
    if (!reg) throw new MissingProviderError(token.name, path);
    if (path.includes(token.name)) {
      throw new CircularDependencyError([...path.slice(path.indexOf(token.name)), token.name]);
    }
    if (reg.lifetime === 'scoped' && !this.#root) {
      throw new LifetimeError(`'${token.name}' is scoped: resolve it from a scope (container.createScope())`);
    }
    const cache = this.#cacheFor(token.id);
    if (cache) {
      const made = cache.#made[token.id];
      if (made) return made;
      const inflight = cache.#pending.get(token.id);
      if (inflight) return inflight;
    }
    const making = this.#make(reg, [...path, token.name], cache);
    if (cache) {
      cache.#pending.set(token.id, making);
      making.then(
        () => cache.#pending.delete(token.id),
        () => cache.#pending.delete(token.id),
      );
    }
    return making;
  }

  async #make(reg: Registration, path: string[], cache: Container | undefined): Promise<Made> {
    // A singleton's dependencies come from the root, so it never captures a scope's instance.
    const from = reg.lifetime === 'singleton' ? this.#rootCache() : this;
    const deps = await Promise.all(
      reg.deps.map((dep) => {
        if (reg.lifetime === 'singleton' && this.#registrations[dep.id]?.lifetime === 'scoped') {
          throw captive(reg, this.#registrations[dep.id]!);
        }
        return from.#resolveMade(dep, path);
      }),
    );
    const value = await reg.factory(...deps.map((d) => d.value));
    const made: Made = { registration: reg, value, from: deps };
    const owner = cache ?? this;
    if (cache) {
      cache.#made[reg.token.id] = made;
      cache.#values[reg.token.id] = value;
    }
    owner.#owned.push(made);
    return made;
  }
}

function captive(reg: Registration, dep: Registration): LifetimeError {
  return new LifetimeError(`singleton '${reg.token.name}' depends on scoped '${dep.token.name}': make '${reg.token.name}' scoped or '${dep.token.name}' a singleton`);
}
