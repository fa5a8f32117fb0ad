// Lists and reads files under one root folder (`config.root`, default the examples/texts folder).
// Trusted and in-process: it reads the disk for the isolated extensions, which cannot.
import { readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isAbsolute, join, relative, resolve } from 'node:path';

export default {
  async activate(ctx) {
    const root = resolve(ctx.config?.root ?? fileURLToPath(new URL('../../texts', import.meta.url)));
    const inside = (path) => {
      const full = resolve(root, path);
      const rel = relative(root, full);
      if (rel.startsWith('..') || isAbsolute(rel)) throw Object.assign(new Error(`'${path}' is outside the files root`), { code: -32602 });
      return full;
    };
    ctx.bus.handle('files.list', async ({ folder = '.', suffix = '' } = {}) => {
      const dir = inside(folder);
      const names = (await readdir(dir)).filter((n) => n.endsWith(suffix)).sort();
      const files = await Promise.all(names.map(async (name) => ({ path: relative(root, join(dir, name)), size: (await stat(join(dir, name))).size })));
      ctx.bus.publish('files.listed', { folder, count: files.length });
      return { files };
    });
    ctx.bus.handle('files.read', async ({ path }) => ({ path, text: await readFile(inside(path), 'utf8') }));
    ctx.log.info(`serving files under ${root}`);
  },
};
