/**
 * Rights: what an identity may do, as patterns of methods it serves and calls and of topics it
 * publishes and subscribes to; and the cache that makes checking them one lookup per call.
 */
import { matches } from './subjects.js';

/** What an identity may do: patterns of methods it serves and calls, topics it publishes and subscribes to. */
export interface Rights {
  provides: readonly string[];
  calls: readonly string[];
  publishes: readonly string[];
  subscribes: readonly string[];
}
export const ALL_RIGHTS: Rights = Object.freeze({ provides: ['>'], calls: ['>'], publishes: ['>'], subscribes: ['>'] });

/**
 * Rights with matching cached per subject, one cache per kind of right: keyed by the subject
 * itself (a method name, whose hash the string keeps), a call's check is one lookup, not a new
 * "kind subject" string to build and hash (about 200 ns on every call of an endpoint with rights).
 */
export class Grants {
  readonly #cache: Record<keyof Rights, Map<string, boolean>> = { provides: new Map(), calls: new Map(), publishes: new Map(), subscribes: new Map() };
  constructor(readonly rights: Rights) {}
  readonly all = false as boolean;
  allows(kind: keyof Rights, subject: string): boolean {
    const cache = kind === 'calls' ? this.#cache.calls : this.#cache[kind];
    let ok = cache.get(subject);
    if (ok === undefined) {
      ok = this.rights[kind].some((p) => matches(p, subject));
      if (cache.size > 512) cache.clear();
      cache.set(subject, ok);
    }
    return ok;
  }
}
/** Full rights: every check passes without a lookup. */
export const ALL_GRANTS: Grants = Object.assign(new Grants(ALL_RIGHTS), { all: true });
export const grantsFor = (rights: Rights | undefined) => (!rights || rights === ALL_RIGHTS ? ALL_GRANTS : new Grants(rights));

