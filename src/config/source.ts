import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

/** A position in a config file, 1-based. */
export interface Position {
  line: number;
  col: number;
}

export type PathSegment = string | number;

/** A parsed config file: its plain value, and where each key and value sits in the text. */
export interface ConfigSource {
  readonly file: string;
  readonly format: 'yaml' | 'toml';
  readonly value: unknown;
  /** Where `path` is: its key (`'key'`) or its value; falls back to the nearest enclosing entry. */
  locate(path: readonly PathSegment[], what?: 'key' | 'value'): Position;
}

/** A parse error, at its position. */
export class ConfigSyntaxError extends Error {
  override name = 'ConfigSyntaxError';
  constructor(
    readonly file: string,
    readonly position: Position,
    message: string,
  ) {
    super(message);
  }
}

const START: Position = { line: 1, col: 1 };

/** A config given as a value (already parsed, e.g. embedded in code): no positions to point at. */
export function valueSource(file: string, value: unknown): ConfigSource {
  return { file, format: 'yaml', value, locate: () => START };
}

/** Reads and parses a YAML (`.yaml`, `.yml`) or TOML (`.toml`) file. Parsers load only when needed. */
export async function readConfigSource(file: string): Promise<ConfigSource> {
  const text = await readFile(file, 'utf8');
  return parseConfigSource(file, text);
}

export async function parseConfigSource(file: string, text: string): Promise<ConfigSource> {
  // A byte order mark (editors on Windows write one) is not part of the text: the TOML parser refused it.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return extname(file).toLowerCase() === '.toml' ? parseToml(file, body) : parseYaml(file, body);
}

async function parseYaml(file: string, text: string): Promise<ConfigSource> {
  const YAML = await import('yaml');
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false });
  const at = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const first = doc.errors[0];
  if (first) throw new ConfigSyntaxError(file, at(first.pos[0]), `YAML: ${first.message.split('\n')[0]}`);
  const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
  return {
    file,
    format: 'yaml',
    value: value ?? {},
    locate(path, what = 'key') {
      let node: unknown = doc.contents;
      let best: Position = START;
      for (let i = 0; i < path.length; i++) {
        const seg = path[i];
        const last = i === path.length - 1;
        if (YAML.isMap(node)) {
          const pair = node.items.find((p) => YAML.isScalar(p.key) && String(p.key.value) === String(seg));
          if (!pair) return best;
          const keyNode = pair.key as { range?: [number, number, number] };
          const valueNode = pair.value as { range?: [number, number, number] } | null;
          if (keyNode.range) best = at(keyNode.range[0]);
          if (last && what === 'value' && valueNode?.range) best = at(valueNode.range[0]);
          node = pair.value;
        } else if (YAML.isSeq(node) && typeof seg === 'number') {
          const item = node.items[seg] as { range?: [number, number, number] } | undefined;
          if (!item) return best;
          if (item.range) best = at(item.range[0]);
          node = item;
        } else {
          return best;
        }
      }
      return best;
    },
  };
}

interface TomlEntry {
  key: Position;
  value: Position;
}

async function parseToml(file: string, text: string): Promise<ConfigSource> {
  const toml = await import('toml-eslint-parser');
  let ast: ReturnType<typeof toml.parseTOML>;
  try {
    ast = toml.parseTOML(text);
  } catch (err) {
    const e = err as { lineNumber?: number; column?: number; message?: string };
    // The parser's error columns are 0-based, its AST's too; ours are 1-based.
    throw new ConfigSyntaxError(file, { line: e.lineNumber ?? 1, col: (e.column ?? 0) + 1 }, `TOML: ${String(e.message ?? err).split('\n')[0]}`);
  }
  // getStaticTOMLValue assigns keys as written: a `__proto__` key would write into Object.prototype
  // of the kernel process (or replace a table's prototype). No config has a use for one.
  const proto = findKey(ast, '__proto__');
  if (proto) throw new ConfigSyntaxError(file, { line: proto.line, col: proto.column + 1 }, "TOML: the key '__proto__' is not allowed (rename it)");
  const value = toml.getStaticTOMLValue(ast) as unknown;
  // Index every key by its full path: tables, dotted keys, inline tables and array items alike.
  const index = new Map<string, TomlEntry>();
  const pos = (loc: { start: { line: number; column: number } }): Position => ({ line: loc.start.line, col: loc.start.column + 1 });
  const keyOf = (path: readonly PathSegment[]) => JSON.stringify(path);
  type Node = { type: string; loc: { start: { line: number; column: number } }; [k: string]: unknown };
  const keyNames = (key: Node) => (key.keys as Node[]).map((k) => String(k.name ?? k.value));
  const visitValue = (node: Node, path: PathSegment[]) => {
    if (node.type === 'TOMLInlineTable') for (const kv of node.body as Node[]) visitKeyValue(kv, path);
    if (node.type === 'TOMLArray') (node.elements as Node[]).forEach((el, i) => {
      index.set(keyOf([...path, i]), { key: pos(el.loc), value: pos(el.loc) });
      visitValue(el, [...path, i]);
    });
  };
  const visitKeyValue = (kv: Node, base: PathSegment[]) => {
    const path = [...base, ...keyNames(kv.key as Node)];
    index.set(keyOf(path), { key: pos((kv.key as Node).loc), value: pos((kv.value as Node).loc) });
    visitValue(kv.value as Node, path);
  };
  const arrayCounts = new Map<string, number>();
  for (const top of (ast.body[0]?.body ?? []) as unknown as Node[]) {
    if (top.type === 'TOMLKeyValue') {
      visitKeyValue(top, []);
    } else if (top.type === 'TOMLTable') {
      let path: PathSegment[] = keyNames(top.key as Node);
      if (top.kind === 'array') {
        const k = keyOf(path);
        const n = arrayCounts.get(k) ?? 0;
        arrayCounts.set(k, n + 1);
        path = [...path, n];
      }
      if (!index.has(keyOf(path))) index.set(keyOf(path), { key: pos(top.loc), value: pos(top.loc) });
      for (const kv of top.body as Node[]) visitKeyValue(kv, path);
    }
  }
  return {
    file,
    format: 'toml',
    value,
    locate(path, what = 'key') {
      for (let n = path.length; n > 0; n--) {
        const e = index.get(keyOf(path.slice(0, n)));
        if (e) return n === path.length && what === 'value' ? e.value : e.key;
      }
      return START;
    },
  };
}

/** The first key in a TOML AST named `name` (bare or quoted), by a walk over every node. */
function findKey(root: unknown, name: string): { line: number; column: number } | undefined {
  const stack: unknown[] = [root];
  while (stack.length) {
    const node = stack.pop() as { type?: string; name?: unknown; value?: unknown; loc?: { start: { line: number; column: number } }; parent?: unknown } | null;
    if (!node || typeof node !== 'object') continue;
    if ((node.type === 'TOMLBare' && node.name === name) || (node.type === 'TOMLQuoted' && node.value === name && (node as { parent?: { type?: string } }).parent?.type === 'TOMLKey')) return node.loc?.start;
    for (const [k, child] of Object.entries(node)) {
      if (k === 'parent' || k === 'loc' || k === 'range' || k === 'tokens' || k === 'comments') continue;
      if (child && typeof child === 'object') stack.push(...(Array.isArray(child) ? child : [child]));
    }
  }
  return undefined;
}

/**
 * The key under which a component's settings carry where they were written (file and a locator),
 * so the part that reads them (the Orchestra's grants) can name a problem at its FILE:LINE:COL.
 * A registered symbol: the same value wherever it is written.
 */
export const SETTINGS_SOURCE: unique symbol = Symbol.for('symphony.settingsSource') as never;
