declare const tokenType: unique symbol;

/**
 * A typed key. The type parameter is carried only by the type system (`[tokenType]` never exists at
 * run time), so a token costs one small object and lookups index an array by `id`.
 */
export interface Token<T> {
  readonly id: number;
  readonly name: string;
  readonly [tokenType]?: (value: T) => T; // invariant: a Token<Cat> is neither a Token<Animal> nor a Token<Lion>
}

/** The value type a token stands for. */
export type TokenValue<K> = K extends Token<infer T> ? T : never;
/** The value types of a tuple of tokens, in order. */
export type TokenValues<D extends readonly AnyToken[]> = { -readonly [I in keyof D]: TokenValue<D[I]> };

let nextId = 0;

/** Creates a typed key. Names are for messages only: two tokens with the same name are still distinct keys. */
export function token<T>(name: string): Token<T> {
  return Object.freeze({ id: nextId++, name }) as Token<T>;
}

/** Any token, whatever its value type (tokens are invariant, so `Token<unknown>` would not do). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyToken = Token<any>;
