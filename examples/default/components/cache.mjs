// A read-through cache in front of the store (when the store is there: it only wants it).
export default {
  async start(ctx) {
    const store = ctx.deps.store;
    const cache = new Map();
    let hits = 0;
    return {
      get(key) {
        if (cache.has(key)) return hits++, cache.get(key);
        const v = store?.get(key);
        cache.set(key, v);
        return v;
      },
      stats: () => ({ entries: cache.size, hits }),
    };
  },
};
