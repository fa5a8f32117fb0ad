/**
 * Requests in flight by id, for a session: its own outgoing requests and the other side's.
 *
 * Ids are almost always consecutive integers (a session numbers its own requests; every Symphony
 * client does too), so an entry lives in slot `id % slots` of an array, and only the others (a
 * string id, a slot still held by an older request) go to a Map. A Map alone reallocates its table
 * as it empties and refills: a request answered at once (set, then delete on an empty Map) cost
 * ~200 ns and ~150 B in it, against a few ns and nothing here.
 */
export type TableId = string | number;

const INITIAL_SLOTS = 64;
/** Beyond this many slots, collisions go to the Map rather than doubling the array again. */
const MAX_SLOTS = 4096;

export class IdTable<T extends { readonly id: TableId }> {
  #slots: (T | undefined)[] = new Array<T | undefined>(INITIAL_SLOTS).fill(undefined);
  #mask = INITIAL_SLOTS - 1;
  readonly #overflow = new Map<TableId, T>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(id: TableId): T | undefined {
    if (typeof id === 'number') {
      const e = this.#slots[id & this.#mask];
      if (e !== undefined && e.id === id) return e;
    }
    return this.#overflow.size === 0 ? undefined : this.#overflow.get(id);
  }

  has(id: TableId): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds an entry whose id is not in the table. */
  add(entry: T): void {
    this.#size++;
    const id = entry.id;
    if (typeof id === 'number') {
      if (this.#slots[id & this.#mask] !== undefined && this.#slots.length < MAX_SLOTS) this.#grow();
      const i = id & this.#mask;
      if (this.#slots[i] === undefined) {
        this.#slots[i] = entry;
        return;
      }
    }
    this.#overflow.set(id, entry);
  }

  /** Removes this entry (not another one with its id); false when it is not in the table. */
  delete(entry: T): boolean {
    const id = entry.id;
    if (typeof id === 'number') {
      const i = id & this.#mask;
      if (this.#slots[i] === entry) {
        this.#slots[i] = undefined;
        this.#size--;
        return true;
      }
    }
    if (this.#overflow.get(id) !== entry) return false;
    this.#overflow.delete(id);
    this.#size--;
    return true;
  }

  /** Every entry: numeric ids in increasing order (for a session's own, the order they were added), then the others in the order added. */
  values(): T[] {
    const numbered: T[] = [];
    for (const e of this.#slots) if (e !== undefined) numbered.push(e);
    for (const e of this.#overflow.values()) if (typeof e.id === 'number') numbered.push(e);
    numbered.sort((a, b) => (a.id as number) - (b.id as number));
    for (const e of this.#overflow.values()) if (typeof e.id !== 'number') numbered.push(e);
    return numbered;
  }

  clear(): void {
    this.#slots.fill(undefined);
    this.#overflow.clear();
    this.#size = 0;
  }

  /** Twice the slots; entries that now collide stay where they are found first (the Map). */
  #grow(): void {
    const old = this.#slots;
    this.#slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    this.#mask = this.#slots.length - 1;
    for (const e of old) {
      if (e === undefined) continue;
      const i = (e.id as number) & this.#mask;
      if (this.#slots[i] === undefined) this.#slots[i] = e;
      else this.#overflow.set(e.id, e);
    }
  }
}
