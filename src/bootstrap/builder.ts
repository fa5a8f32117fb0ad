import type { AnyComponentDefinition, ComponentDefinition, ComponentOptions, KernelOptions } from './definition.js';
import { Kernel } from './kernel.js';

/*
 * The typed builder: the graph is checked by the compiler. Each check produces a string literal
 * type that names the components, so the error reads e.g.
 *   Argument of type '{ needs: ["cache"]; }' is not assignable to parameter of type
 *   '… & "missing dependency 'cache' of 'users': add 'cache' before 'users' (…)"'.
 * `needs` and `wants` may name only components added before, so a cycle cannot be written
 * without a `late` edge; `late` may name any component, and `build()` fails to compile while a
 * late target is missing or has the wrong type.
 */

type Names = readonly string[];
type Missing<List extends Names, Added> = Exclude<List[number], keyof Added>;
/** Flattens the intersection the builder accumulates (kept as an intersection while adding: flattening at each step nests 200 deep). */
type Flat<T> = { [K in keyof T]: T[K] } & {};

/** Keys of the definition's `ctx.deps` whose instance type the added component does not satisfy. */
type WrongType<D, Added> = {
  [K in keyof D & keyof Added]: Added[K] extends D[K] ? never : K;
}[keyof D & keyof Added] &
  string;
/** Keys of `ctx.deps` listed only in `wants` (so possibly absent) but declared as always present. */
type WantedButRequired<D, Wants extends Names> = {
  [K in keyof D & Wants[number]]: undefined extends D[K] ? never : K;
}[keyof D & Wants[number]] &
  string;

/** Checks on the options: every `needs` / `wants` entry names a component added before. */
export type OptionsCheck<N extends string, Added, Needs extends Names, Wants extends Names> = [Missing<Needs, Added>] extends [never]
  ? [Missing<Wants, Added>] extends [never]
    ? unknown
    : `wanted component '${Missing<Wants, Added>}' of '${N}' is not added yet: add it before '${N}'`
  : `missing dependency '${Missing<Needs, Added>}' of '${N}': add '${Missing<Needs, Added>}' before '${N}' (if '${Missing<Needs, Added>}' needs '${N}', that is a cycle: make one edge late)`;

/** Checks on the definition: what its `start` uses from `ctx.deps` and `ctx.late` is declared, with matching types. */
export type DefinitionCheck<N extends string, Added, D, L, Needs extends Names, Wants extends Names, Late extends Names> = DepsCheck<
  N,
  Added,
  Known<D>,
  Known<L>,
  Needs,
  Wants,
  Late
>;
/** An untyped context (`Record<string, any>`) declares nothing to check. */
type Known<T> = string extends keyof T ? {} : T;
type DepsCheck<N extends string, Added, D, L, Needs extends Names, Wants extends Names, Late extends Names> = [
  Exclude<keyof D & string, Needs[number] | Wants[number]>,
] extends [never]
  ? [WrongType<D, Added>] extends [never]
    ? [WantedButRequired<D, Wants>] extends [never]
      ? [Exclude<keyof L & string, Late[number]>] extends [never]
        ? unknown
        : `'${N}' uses ctx.late.${Exclude<keyof L & string, Late[number]>} but does not list '${Exclude<keyof L & string, Late[number]>}' in late`
      : `'${N}' lists '${WantedButRequired<D, Wants>}' in wants, so ctx.deps.${WantedButRequired<D, Wants>} may be undefined: declare it optional`
    : `dependency '${WrongType<D, Added>}' of '${N}' has the wrong type for what '${N}' expects`
  : `missing dependency '${Exclude<keyof D & string, Needs[number] | Wants[number]>}' of '${N}': its start uses ctx.deps.${Exclude<keyof D & string, Needs[number] | Wants[number]>}, so list it in needs`;

/** One late edge as the builder remembers it: who, to what, and the type its start expects. */
interface LateEdge<From extends string = string, To extends string = string, T = unknown> {
  from: From;
  to: To;
  type: T;
}
type LateEdgesOf<N extends string, L, Late extends Names> = {
  [K in Late[number]]: LateEdge<N, K, K extends keyof L ? L[K] : unknown>;
}[Late[number]];

type MissingLate<E, Added> = E extends LateEdge<infer F, infer T> ? (T extends keyof Added ? never : `late target '${T}' of '${F}' was never added`) : never;
type WrongLate<E, Added> = E extends LateEdge<infer F, infer T, infer X> ? (T extends keyof Added ? (Added[T] extends X ? never : `late target '${T}' of '${F}' has the wrong type for what '${F}' expects`) : never) : never;
/** Why `build()` cannot be called yet, or never when it can. */
export type BuildCheck<Added, E> = [MissingLate<E, Added>] extends [never] ? WrongLate<E, Added> : MissingLate<E, Added>;

/** Per-component options of the builder: the config keys other than `use` and the edges. */
export type BuilderOptions<Needs extends Names, Wants extends Names, Late extends Names> = Omit<ComponentOptions, 'use' | 'needs' | 'wants' | 'late' | 'command'> & {
  needs?: Needs;
  wants?: Wants;
  late?: Late;
};

export class KernelBuilder<Added extends Record<string, unknown> = {}, Edges = never> {
  readonly #components: Record<string, ComponentOptions> = {};

  add<
    const N extends string,
    I,
    D,
    L,
    C,
    const Needs extends Names = [],
    const Wants extends Names = [],
    const Late extends Names = [],
  >(
    name: N,
    // On the definition, not the name: `N & message` would collapse to never and lose the message.
    definition: ComponentDefinition<I, D, L, C> & (N extends keyof Added ? `component '${N}' is already added` : DefinitionCheck<N, Added, D, L, Needs, Wants, Late>),
    options?: BuilderOptions<Needs, Wants, Late> & OptionsCheck<N, Added, Needs, Wants>,
  ): KernelBuilder<Added & { [K in N]: I }, Edges | LateEdgesOf<N, L, Late>> {
    if (Object.hasOwn(this.#components, name)) throw new TypeError(`component '${name}' is already added`);
    this.#components[name] = { ...(options as ComponentOptions | undefined), use: definition as AnyComponentDefinition };
    return this as never;
  }

  /** The kernel for the components added; a compile error while a late target is missing or mistyped. */
  build(
    this: [BuildCheck<Added, Edges>] extends [never] ? KernelBuilder<Added, Edges> : BuildCheck<Added, Edges>,
    options: Omit<KernelOptions, 'components'> = {},
  ): Kernel<Flat<Added>> {
    const self = this as unknown as KernelBuilder<Added, Edges>;
    return new Kernel<Flat<Added>>({ ...options, components: self.#components });
  }
}

/** Starts a typed kernel definition: `kernel().add('db', db).add('api', api, { needs: ['db'] }).build()`. */
export function kernel(): KernelBuilder {
  return new KernelBuilder();
}
