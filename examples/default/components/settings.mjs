// Frozen settings from `with:`, available to every component that needs them.
export default {
  async start(ctx) {
    return Object.freeze({ greeting: 'hello', ...ctx.config });
  },
};
