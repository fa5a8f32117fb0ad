/**
 * One cold boot in a fresh process: `node bench/cold/child.mjs CANDIDATE SIZE SEED`.
 *
 * Plain JavaScript on purpose (no loader in the timed process): the candidate's module is imported
 * and the graph built first, then the clock runs from the container's (or kernel's) creation to
 * every component started, and again over the shutdown. One JSON line goes to stdout.
 *
 * The workload: SIZE components in 10 levels; a component of level L > 0 needs one of level L-1
 * and 0..2 more from any earlier level (1 to 3 in all); start() is `async () => ({})`, stop() is
 * `async () => {}`, one definition object per component.
 */
import { performance } from 'node:perf_hooks';

import { mulberry32 } from '../../test/random.mjs';

const [candidate, sizeArg, seedArg] = process.argv.slice(2);
const SIZE = Number(sizeArg);
const SEED = Number(seedArg ?? 0x5eed);
const LEVELS = 10;

function makeGraph(size, seed) {
  const rnd = mulberry32(seed ^ size);
  const per = Math.ceil(size / LEVELS);
  const names = [];
  const deps = [];
  for (let i = 0; i < size; i++) {
    names.push(`c${i}`);
    const level = Math.floor(i / per);
    if (level === 0) {
      deps.push([]);
      continue;
    }
    const prevStart = (level - 1) * per;
    const picked = new Set([prevStart + Math.floor(rnd() * per)]);
    const extra = Math.floor(rnd() * 3);
    const earlier = level * per;
    while (picked.size < 1 + extra) picked.add(Math.floor(rnd() * earlier));
    deps.push([...picked]);
  }
  return { names, deps };
}

const graph = makeGraph(SIZE, SEED);
const defs = graph.names.map(() => ({
  async start() {
    return {};
  },
  async stop() {},
}));

/** Each candidate: `load()` imports its module (untimed); `boot()` is timed; `stop(handle)` is timed. */
const CANDIDATES = {
  floor: {
    async load() {},
    async boot() {
      // Awaits each component's dependencies and nothing else.
      const started = new Array(SIZE);
      for (let i = 0; i < SIZE; i++) {
        const d = graph.deps[i];
        const def = defs[i];
        started[i] = d.length === 0 ? def.start() : Promise.all(d.map((j) => started[j])).then(() => def.start());
      }
      const instances = await Promise.all(started);
      return instances;
    },
    async stop(instances) {
      const dependents = graph.names.map(() => []);
      graph.deps.forEach((d, i) => d.forEach((j) => dependents[j].push(i)));
      const stopped = new Array(SIZE);
      const stopOne = (i) =>
        (stopped[i] ??= Promise.all(dependents[i].map(stopOne)).then(() => defs[i].stop(instances[i])));
      for (let i = SIZE - 1; i >= 0; i--) stopOne(i);
      await Promise.all(stopped);
    },
  },
  symphony: {
    async load() {
      this.m = await import('symphony');
      this.components = {};
      graph.names.forEach((name, i) => {
        this.components[name] = { use: defs[i], needs: graph.deps[i].map((j) => graph.names[j]) };
      });
    },
    async boot() {
      const k = this.m.createKernel({ components: this.components });
      await k.start();
      return k;
    },
    async stop(k) {
      await k.stop();
    },
  },
  avvio: {
    async load() {
      this.avvio = (await import('avvio')).default;
    },
    async boot() {
      // avvio loads plugins one after another, in registration (here: dependency) order.
      const app = this.avvio();
      for (let i = 0; i < SIZE; i++) {
        const def = defs[i];
        app.use(async (server) => {
          const instance = await def.start();
          server.onClose(() => def.stop(instance));
        });
      }
      await app.ready();
      return app;
    },
    async stop(app) {
      await app.close();
    },
  },
  awilix: {
    async load() {
      this.a = await import('awilix');
    },
    async boot() {
      const { createContainer, asFunction } = this.a;
      const container = createContainer();
      for (let i = 0; i < SIZE; i++) {
        const def = defs[i];
        const deps = graph.deps[i].map((j) => graph.names[j]);
        const factory = deps.length === 0 ? () => def.start() : (cradle) => Promise.all(deps.map((d) => cradle[d])).then(() => def.start());
        container.register(
          graph.names[i],
          asFunction(factory)
            .singleton()
            .disposer(async (p) => def.stop(await p)),
        );
      }
      await Promise.all(graph.names.map((n) => container.resolve(n)));
      return container;
    },
    async stop(container) {
      await container.dispose();
    },
  },
  effect: {
    async load() {
      this.e = await import('effect');
    },
    async boot() {
      const { Context, Effect, Layer, ManagedRuntime } = this.e;
      const keys = graph.names.map((n) => Context.Service(n));
      const layers = [];
      for (let i = 0; i < SIZE; i++) {
        const def = defs[i];
        const deps = graph.deps[i];
        const acquire = Effect.acquireRelease(
          Effect.promise(() => def.start()),
          (instance) => Effect.promise(() => def.stop(instance)),
        );
        const make = deps.length === 0 ? acquire : Effect.flatMap(Effect.all(deps.map((j) => keys[j])), () => acquire);
        const layer = Layer.effect(keys[i], make);
        layers.push(deps.length === 0 ? layer : Layer.provide(layer, deps.map((j) => layers[j])));
      }
      const runtime = ManagedRuntime.make(Layer.mergeAll(...layers));
      await runtime.context();
      return runtime;
    },
    async stop(runtime) {
      await runtime.dispose();
    },
  },
  inversify: {
    async load() {
      this.i = await import('inversify');
    },
    async boot() {
      const container = new this.i.Container();
      for (let i = 0; i < SIZE; i++) {
        const def = defs[i];
        const deps = graph.deps[i].map((j) => graph.names[j]);
        container
          .bind(graph.names[i])
          .toResolvedValue(() => def.start(), deps)
          .inSingletonScope()
          .onDeactivation((instance) => def.stop(instance));
      }
      await Promise.all(graph.names.map((n) => container.getAsync(n)));
      return container;
    },
    async stop(container) {
      await container.unbindAllAsync();
    },
  },
  nestjs: {
    async load() {
      await import('reflect-metadata');
      this.core = await import('@nestjs/core');
      this.common = await import('@nestjs/common');
    },
    async boot() {
      // One global module of factory providers; each instance carries Nest's destroy hook.
      const providers = graph.names.map((name, i) => ({
        provide: name,
        inject: graph.deps[i].map((j) => graph.names[j]),
        useFactory: async () => {
          const instance = await defs[i].start();
          return Object.assign(instance, { onModuleDestroy: () => defs[i].stop(instance) });
        },
      }));
      class AppModule {}
      this.common.Module({ providers })(AppModule);
      const app = await this.core.NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
      await app.init();
      return app;
    },
    async stop(app) {
      await app.close();
    },
  },
};

const c = CANDIDATES[candidate];
if (!c) {
  console.error(`unknown candidate '${candidate}' (known: ${Object.keys(CANDIDATES).join(', ')})`);
  process.exit(2);
}
await c.load();
const rss0 = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const handle = await c.boot();
const t1 = performance.now();
const cpu1 = process.cpuUsage(cpu0);
await c.stop(handle);
const t2 = performance.now();
process.stdout.write(`${JSON.stringify({ candidate, size: SIZE, startMs: t1 - t0, startCpuMs: (cpu1.user + cpu1.system) / 1000, stopMs: t2 - t1, rssGrowth: process.memoryUsage().rss - rss0 })}\n`);
