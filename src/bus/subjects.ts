/**
 * Dot-separated subjects with NATS-style wildcards: `*` matches one segment, `>` one or more
 * trailing segments. A trie indexes patterns; lookups of concrete subjects are cached until the
 * index changes, so steady-state publishing is one Map lookup.
 */

const SEGMENT = /^[^\s.*>]+$/;

/** Throws unless `subject` is a concrete subject (no wildcards): `files.changed`. */
export function assertSubject(subject: string, what = 'topic'): void {
  if (typeof subject !== 'string' || subject.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  for (const seg of subject.split('.')) {
    if (!SEGMENT.test(seg)) throw new TypeError(`${what} '${subject}' is not a subject: dot-separated words, no spaces or wildcards`);
  }
}

/** Throws unless `pattern` is a valid pattern: segments, `*` for one, `>` (last only) for the rest. */
export function assertPattern(pattern: string, what = 'pattern'): void {
  if (typeof pattern !== 'string' || pattern.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  const segs = pattern.split('.');
  segs.forEach((seg, i) => {
    if (seg === '*') return;
    if (seg === '>' && i === segs.length - 1) return;
    if (!SEGMENT.test(seg)) {
      throw new TypeError(`${what} '${pattern}' is not valid: dot-separated words, '*' for one word, '>' (last) for the rest`);
    }
  });
}

export function isPattern(subject: string): boolean {
  return subject.includes('*') || subject.endsWith('>');
}

/** True when `pattern` matches the concrete `subject`. */
export function matches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

class TrieNode<V> {
  readonly children = new Map<string, TrieNode<V>>();
  star: TrieNode<V> | undefined;
  /** Values whose pattern ends here. */
  readonly here = new Set<V>();
  /** Values whose pattern ends with `>` right after this node. */
  readonly rest = new Set<V>();
}

export class SubjectIndex<V> {
  readonly #root = new TrieNode<V>();
  readonly #cache = new Map<string, readonly V[]>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(pattern: string, value: V): void {
    const { node, rest } = this.#walk(pattern, true)!;
    const set = rest ? node.rest : node.here;
    if (!set.has(value)) {
      set.add(value);
      this.#size++;
    }
    this.#cache.clear();
  }

  delete(pattern: string, value: V): boolean {
    const found = this.#walk(pattern, false);
    if (!found) return false;
    const removed = (found.rest ? found.node.rest : found.node.here).delete(value);
    if (removed) {
      this.#size--;
      this.#cache.clear();
    }
    return removed;
  }

  /** Every value whose pattern matches `subject` (cached; do not mutate the result). */
  match(subject: string): readonly V[] {
    const hit = this.#cache.get(subject);
    if (hit) return hit;
    const out: V[] = [];
    this.#collect(this.#root, subject.split('.'), 0, out);
    if (this.#cache.size >= 4096) this.#cache.clear();
    this.#cache.set(subject, out);
    return out;
  }

  #collect(node: TrieNode<V>, segs: string[], i: number, out: V[]): void {
    if (i < segs.length && node.rest.size) for (const v of node.rest) out.push(v);
    if (i === segs.length) {
      for (const v of node.here) out.push(v);
      return;
    }
    const child = node.children.get(segs[i]!);
    if (child) this.#collect(child, segs, i + 1, out);
    if (node.star) this.#collect(node.star, segs, i + 1, out);
  }

  #walk(pattern: string, create: boolean): { node: TrieNode<V>; rest: boolean } | undefined {
    const segs = pattern.split('.');
    let node = this.#root;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      if (seg === '>' && i === segs.length - 1) return { node, rest: true };
      let next = seg === '*' ? node.star : node.children.get(seg);
      if (!next) {
        if (!create) return undefined;
        next = new TrieNode<V>();
        if (seg === '*') node.star = next;
        else node.children.set(seg, next);
      }
      node = next;
    }
    return { node, rest: false };
  }
}
