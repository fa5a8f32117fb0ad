import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/**
 * The page's files, served as they are (no build step at run time): the page's own HTML, CSS and
 * script beside this module (`page/`, copied next to the compiled code by the build), and uPlot's
 * files from its package. Each is read and compressed once, on its first request: no page, no cost.
 */

export interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

const pageDir = fileURLToPath(new URL('./page/', import.meta.url));
const uplotDir = (() => {
  try {
    return dirname(createRequire(import.meta.url).resolve('uplot'));
  } catch {
    return undefined;
  }
})();

/** URL path -> file on disk and its content type. */
const FILES: Record<string, { file: () => string | undefined; type: string }> = {
  '/': { file: () => join(pageDir, 'index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: () => join(pageDir, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: () => join(pageDir, 'style.css'), type: 'text/css; charset=utf-8' },
  '/dashboard/uplot.js': { file: () => uplotDir && join(uplotDir, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/uplot.css': { file: () => uplotDir && join(uplotDir, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

export const ASSET_PATHS = Object.keys(FILES);

const cache = new Map<string, Asset>();

/** The asset at `path`, or undefined when there is none (or its file is missing: said by the caller). */
export function asset(path: string): Asset | undefined {
  const hit = cache.get(path);
  if (hit) return hit;
  const spec = FILES[path];
  const file = spec?.file();
  if (!spec || !file) return undefined;
  let body: Buffer;
  try {
    body = readFileSync(file);
  } catch {
    return undefined;
  }
  const a = { type: spec.type, body, gzip: gzipSync(body, { level: 9 }) };
  cache.set(path, a);
  return a;
}

/** Where a missing asset was looked for (for the error a broken install gets). */
export function assetFile(path: string): string | undefined {
  return FILES[path]?.file();
}
