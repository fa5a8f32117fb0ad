// An in-memory key-value store with a health probe.
export default {
  async start(ctx) {
    const data = new Map([['greeting', ctx.deps.settings.greeting]]);
    return {
      get: (key) => data.get(key),
      set: (key, value) => void data.set(key, value),
      size: () => data.size,
      close: () => data.clear(),
    };
  },
  health(store) {
    return store.size() >= 0;
  },
  stop(store) {
    store.close();
  },
};
