/**
 * Melody expressions: `${ … }` inside step settings. A small, safe language (no eval): paths into
 * the run's scope (`inputs.folder`, `steps.count.output.words`, `item`, `artifacts.report`),
 * literals (numbers, strings, true, false, null), comparisons (== != < <= > >=), `&&`, `||`, `!`,
 * and parentheses. A value that is exactly one `${…}` keeps its type; inside a longer string it is
 * interpolated as text.
 */

export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

type Token = { kind: 'num' | 'str' | 'id' | 'op' | 'eof'; value: string };

const OPS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '.', '[', ']'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? '') && (out.length === 0 || out.at(-1)!.kind === 'op'))) {
      const m = /^-?\d+(\.\d+)?/.exec(src.slice(i))!;
      out.push({ kind: 'num', value: m[0] });
      i += m[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') j++;
        s += src[j] ?? '';
        j++;
      }
      if (j >= src.length) throw new ExpressionError(`unterminated string in \${${src}}`);
      out.push({ kind: 'str', value: s });
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][\w$-]*/.exec(src.slice(i))!;
      out.push({ kind: 'id', value: m[0] });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new ExpressionError(`unexpected '${c}' in \${${src}}`);
    out.push({ kind: 'op', value: op });
    i += op.length;
  }
  out.push({ kind: 'eof', value: '' });
  return out;
}

/** A parsed expression: evaluate it against a scope; `paths` lists the roots it reads (for validation). */
export interface Expression {
  readonly source: string;
  readonly refs: readonly string[][];
  evaluate(scope: Record<string, unknown>): unknown;
}

type Node = (scope: Record<string, unknown>) => unknown;

export function parseExpression(source: string): Expression {
  const tokens = tokenize(source);
  let pos = 0;
  const refs: string[][] = [];
  const peek = () => tokens[pos]!;
  const next = () => tokens[pos++]!;
  const expect = (v: string) => {
    const t = next();
    if (t.value !== v) throw new ExpressionError(`expected '${v}' but found '${t.value || 'the end'}' in \${${source}}`);
  };
  const binary = (sub: () => Node, ops: string[]): Node => {
    let left = sub();
    while (peek().kind === 'op' && ops.includes(peek().value)) {
      const op = next().value;
      const right = sub();
      const l = left;
      left = (s) => apply(op, l(s), op === '&&' || op === '||' ? undefined : right(s), op === '&&' || op === '||' ? () => right(s) : undefined);
    }
    return left;
  };
  const or = (): Node => binary(and, ['||']);
  const and = (): Node => binary(cmp, ['&&']);
  const cmp = (): Node => binary(unary, ['==', '!=', '<', '<=', '>', '>=']);
  const unary = (): Node => {
    if (peek().value === '!') {
      next();
      const inner = unary();
      return (s) => !inner(s);
    }
    return primary();
  };
  const primary = (): Node => {
    const t = next();
    if (t.kind === 'num') {
      const n = Number(t.value);
      return () => n;
    }
    if (t.kind === 'str') return () => t.value;
    if (t.value === '(') {
      const inner = or();
      expect(')');
      return inner;
    }
    if (t.kind === 'id') {
      if (t.value === 'true') return () => true;
      if (t.value === 'false') return () => false;
      if (t.value === 'null') return () => null;
      const path = [t.value];
      while (peek().value === '.' || peek().value === '[') {
        if (next().value === '.') {
          const seg = next();
          if (seg.kind !== 'id' && seg.kind !== 'num') throw new ExpressionError(`expected a name after '.' in \${${source}}`);
          path.push(seg.value);
        } else {
          const seg = next();
          if (seg.kind !== 'num' && seg.kind !== 'str') throw new ExpressionError(`expected an index in [] in \${${source}}`);
          path.push(seg.value);
          expect(']');
        }
      }
      refs.push(path);
      return (s) => lookup(s, path, source);
    }
    throw new ExpressionError(`unexpected '${t.value || 'end'}' in \${${source}}`);
  };
  const root = or();
  if (peek().kind !== 'eof') throw new ExpressionError(`unexpected '${peek().value}' in \${${source}}`);
  return { source, refs, evaluate: root };
}

function lookup(scope: Record<string, unknown>, path: string[], source: string): unknown {
  let cur: unknown = scope;
  let rest = path;
  const artifacts = scope.artifacts;
  if (path[0] === 'artifacts' && path.length > 1 && artifacts && typeof artifacts === 'object') {
    // Artifact names may contain dots: the longest prefix of the path that names a loaded artifact
    // is its name, the rest a path into its content (see the Conductor's #loadArtifacts).
    for (let end = path.length; end > 1; end--) {
      const name = path.slice(1, end).join('.');
      if (Object.hasOwn(artifacts, name)) {
        cur = (artifacts as Record<string, unknown>)[name];
        rest = path.slice(end);
        break;
      }
    }
  }
  for (const seg of rest) {
    if (cur === null || cur === undefined) return undefined;
    if (typeof cur !== 'object') throw new ExpressionError(`\${${source}}: '${seg}' is read from a ${typeof cur}`);
    // Own properties only: `constructor`, `toString` and the like are not values of the scope.
    cur = Object.hasOwn(cur, seg) ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return cur;
}

/** A missing value (undefined) is null: `${x == null}` holds for a missing x. */
function same(a: unknown, b: unknown): boolean {
  const x = a === undefined ? null : a;
  const y = b === undefined ? null : b;
  return x === y || JSON.stringify(x) === JSON.stringify(y);
}

function apply(op: string, a: unknown, b: unknown, lazyRight?: () => unknown): unknown {
  switch (op) {
    case '&&':
      return a ? lazyRight!() : a;
    case '||':
      return a ? a : lazyRight!();
    case '==':
      return same(a, b);
    case '!=':
      return !same(a, b);
    case '<':
      return (a as number) < (b as number);
    case '<=':
      return (a as number) <= (b as number);
    case '>':
      return (a as number) > (b as number);
    case '>=':
      return (a as number) >= (b as number);
  }
  throw new ExpressionError(`unknown operator ${op}`);
}

const WHOLE = /^\$\{([^}]*)\}$/;
const PART = /\$\{([^}]*)\}/g;

/** Every expression inside a settings value (objects and lists walked), for validation before a run. */
export function expressionsIn(value: unknown, out: Expression[] = []): Expression[] {
  if (typeof value === 'string') {
    for (const m of value.matchAll(PART)) out.push(parseExpression(m[1]!));
  } else if (Array.isArray(value)) {
    for (const v of value) expressionsIn(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) expressionsIn(v, out);
  }
  return out;
}

/** Resolves every `${…}` in a settings value against the scope. */
export function resolveValue(value: unknown, scope: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return parseExpression(whole[1]!).evaluate(scope);
    if (!value.includes('${')) return value;
    return value.replace(PART, (_, src: string) => {
      const v = parseExpression(src).evaluate(scope);
      // A missing value reads as null (not the text 'undefined').
      return typeof v === 'string' ? v : JSON.stringify(v === undefined ? null : v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolveValue(v, scope));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveValue(v, scope);
    return out;
  }
  return value;
}
