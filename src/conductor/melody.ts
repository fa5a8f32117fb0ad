import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as v from 'valibot';
import { analyzeGraph, suggest } from '../bootstrap/index.js';
import { ConfigSyntaxError, parseConfigSource, type ConfigSource, type PathSegment } from '../config/index.js';
import { parseDuration } from '../util/duration.js';
import { expressionsIn, parseExpression, ExpressionError } from './expressions.js';

/*
 * Melody files: workflows the Conductor runs. A melody names its inputs, its steps (each a call
 * of a bus method) and its outputs. `needs` orders steps and hands outputs on (`${steps.a.output}`);
 * steps without a path between them run in parallel; `when` makes a step conditional; `foreach`
 * fans a step out over a list; retry / onFailure / fallback / compensate say what a failure does.
 */

const duration = v.pipe(
  v.union([v.number(), v.string()], 'must be a duration (e.g. 500ms, 5s)'),
  v.check((d) => parseDuration(d) !== undefined, 'must be a duration (e.g. 500ms, 5s)'),
);
const CallSchema = v.strictObject({
  call: v.pipe(v.string('call must be a bus method name'), v.minLength(1)),
  with: v.optional(v.unknown()),
});
const StepSchema = v.strictObject(
  {
    call: v.union([v.pipe(v.string(), v.minLength(1)), v.pipe(v.array(v.string()), v.minLength(1))], 'call must be a bus method, or a list of alternatives the policy chooses from'),
    with: v.optional(v.unknown()),
    needs: v.optional(v.array(v.string(), 'needs must be a list of step names'), []),
    after: v.optional(v.array(v.string(), 'after must be a list of step names'), []),
    when: v.optional(v.string('when must be an expression, e.g. ${steps.a.output.ok}')),
    foreach: v.optional(v.string('foreach must be an expression giving a list, e.g. ${steps.list.output.files}')),
    timeout: v.optional(duration),
    retry: v.optional(
      v.strictObject({
        max: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 2),
        backoff: v.optional(v.picklist(['constant', 'linear', 'exponential'], 'retry.backoff must be constant, linear or exponential'), 'exponential'),
        delay: v.optional(duration, '100ms'),
        maxDelay: v.optional(duration, '5s'),
      }),
    ),
    onFailure: v.optional(v.picklist(['fail', 'skip', 'fallback'], 'onFailure must be fail, skip or fallback'), 'fail'),
    fallback: v.optional(CallSchema),
    compensate: v.optional(CallSchema),
    optional: v.optional(v.boolean(), false),
    cost: v.optional(v.pipe(v.number(), v.minValue(0)), 1),
    store: v.optional(v.string('store must be an artifact name')),
  },
  'each step must be a table (call, with, needs, …)',
);
const InputSchema = v.strictObject({
  type: v.optional(v.picklist(['string', 'number', 'boolean', 'object', 'array', 'any'], 'type must be string, number, boolean, object, array or any'), 'any'),
  default: v.optional(v.unknown()),
  description: v.optional(v.string()),
});
/** A step's name: anything but `~`, which the Conductor's own DAG nodes use (`a~fallback`). */
const StepName = v.pipe(
  v.string(),
  v.regex(/^[^~]+$/, (issue) => `step name ${JSON.stringify(issue.input)} cannot contain '~' (reserved for the Conductor's own nodes, like 'a~fallback')`),
);
export const MelodySchema = v.strictObject(
  {
    $schema: v.optional(v.string()),
    melody: v.pipe(v.string('melody must be a name'), v.regex(/^[a-z0-9][a-z0-9._-]*$/, 'melody must be a lowercase name (letters, digits, . _ -)')),
    description: v.optional(v.string()),
    inputs: v.optional(v.record(v.string(), InputSchema), {}),
    budget: v.optional(v.pipe(v.number(), v.minValue(0))),
    steps: v.pipe(v.record(StepName, StepSchema, 'steps must be a table of name: step'), v.check((s) => Object.keys(s).length > 0, 'a melody needs at least one step')),
    outputs: v.optional(v.record(v.string(), v.unknown()), {}),
  },
  'a melody must be a table with melody, steps (and optionally inputs, outputs, budget)',
);

export type Melody = v.InferOutput<typeof MelodySchema>;
export type MelodyStep = Melody['steps'][string];

/** A problem in a melody, at its position when it came from a file. */
export interface MelodyProblem {
  file: string | undefined;
  line: number;
  col: number;
  message: string;
}

export class MelodyError extends Error {
  override name = 'MelodyError';
  constructor(readonly problems: readonly MelodyProblem[]) {
    super(problems.map((p) => (p.file ? `${p.file}:${p.line}:${p.col}: ${p.message}` : p.message)).join('\n'));
  }
}

const STEP_KEYS = Object.keys(StepSchema.entries);
const RESERVED_NAMES = ['__proto__', 'constructor', 'prototype'];

/** Reads and checks a melody file (YAML or JSON); throws MelodyError listing every problem at its position. */
export async function readMelody(file: string): Promise<Melody> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MelodyError([{ file: path, line: 1, col: 1, message: `cannot read the melody: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}` }]);
  }
  let source: ConfigSource;
  try {
    source = await parseConfigSource(path, text);
  } catch (err) {
    const pos = err instanceof ConfigSyntaxError ? err.position : { line: 1, col: 1 };
    throw new MelodyError([{ file: path, ...pos, message: (err as Error).message }]);
  }
  const melody = checkMelody(source.value, { file: path, locate: source.locate });
  // Where it was read from, for the checks that need the system (methods nobody serves): not enumerable, not sent anywhere.
  Object.defineProperty(melody, MELODY_SOURCE, { value: { file: path, locate: source.locate } });
  return melody;
}

/** On a melody read from a file: `{ file, locate }`, so later checks can point into it. */
export const MELODY_SOURCE = Symbol('melody source');

/**
 * Checks a melody's shape and its graph before anything runs: unknown keys, wrong types, steps
 * named in needs/after that do not exist, cycles (with their path), expressions that do not parse
 * or read a step the step does not wait for, inputs that are not declared.
 */
export function checkMelody(value: unknown, where: { file?: string; locate?: ConfigSource['locate'] } = {}): Melody {
  const problems: MelodyProblem[] = [];
  const at: At = (path, message, what = 'value') => {
    const pos = where.locate?.(path, what) ?? { line: 1, col: 1 };
    problems.push({ file: where.file, ...pos, message });
  };
  const melody = checkShape(value, at, problems);
  checkGraph(melody, at, problems);
  checkExpressions(melody, at);
  if (problems.length) throw new MelodyError(problems);
  return melody;
}

/** Records a problem at a place of the melody (its key, or its value). */
type At = (path: PathSegment[], message: string, what?: 'key' | 'value') => void;

/** Reserved names, unknown or missing keys, wrong types: a melody of the wrong shape goes no further. */
function checkShape(value: unknown, at: At, problems: MelodyProblem[]): Melody {
  // Names the schema's records drop silently (prototype pollution guards): refused, at their place.
  if (value && typeof value === 'object') {
    for (const [section, what] of [['steps', 'a step'], ['inputs', 'an input'], ['outputs', 'an output']] as const) {
      const table = (value as Record<string, unknown>)[section];
      if (!table || typeof table !== 'object' || Array.isArray(table)) continue;
      for (const key of Object.keys(table)) if (RESERVED_NAMES.includes(key)) at([section, key], `'${key}' cannot name ${what} (a reserved name)`, 'key');
    }
  }
  const parsed = v.safeParse(MelodySchema, value);
  if (parsed.success) return parsed.output;
  for (const issue of parsed.issues) {
    const path = (issue.path ?? []).map((p) => p.key as PathSegment);
    const isKey = issue.path?.at(-1)?.origin === 'key';
    if (isKey && issue.kind === 'validation') {
      // A record's key that is not a valid name (a step name with '~').
      at(path, issue.message, 'key');
    } else if (isKey && issue.received === 'undefined' && issue.expected !== 'never') {
      at(path, `${path.length > 1 ? `${path.slice(0, -1).join('.')}: ` : ''}missing key '${String(path.at(-1))}'`, 'key');
    } else if (isKey) {
      const key = String(path.at(-1));
      const inStep = path[0] === 'steps' && path.length === 3;
      at(path, `unknown key '${key}'${inStep ? ` in step '${path[1]}'${suggest(key, STEP_KEYS)}` : ''}`, 'key');
    } else {
      at(path, `${path.length ? `${path.join('.')}: ` : ''}${issue.message}`);
    }
  }
  throw new MelodyError(problems);
}

/** Steps named in needs/after that do not exist; then, when all do (and nothing else is wrong), cycles with their path. */
function checkGraph(melody: Melody, at: At, problems: MelodyProblem[]): void {
  const steps = Object.keys(melody.steps);
  for (const [id, step] of Object.entries(melody.steps)) {
    for (const field of ['needs', 'after'] as const) {
      step[field].forEach((dep, i) => {
        if (!Object.hasOwn(melody.steps, dep)) at(['steps', id, field, i], `step '${id}' ${field} '${dep}', which is not a step${suggest(dep, steps)}`);
      });
    }
  }
  if (problems.length) return;
  const graph = analyzeGraph(steps.map((id) => ({ name: id, needs: melody.steps[id]!.needs, wants: melody.steps[id]!.after, late: [] })));
  for (const p of graph.problems) at(['steps', p.component, p.field], p.message.replace(/^cycle: /, 'cycle between steps: ').replace(/; a cycle can only be closed.*$/, ''));
}

/** Every step a step waits for, directly or not (through needs and after). */
function upstreamOf(melody: Melody, id: string): Set<string> {
  const seen = new Set<string>();
  const stack = [...melody.steps[id]!.needs, ...melody.steps[id]!.after];
  while (stack.length) {
    const s = stack.pop()!;
    if (seen.has(s) || !Object.hasOwn(melody.steps, s)) continue;
    seen.add(s);
    stack.push(...melody.steps[s]!.needs, ...melody.steps[s]!.after);
  }
  return seen;
}

/** Expressions: they must parse, and read only declared inputs and steps this step waits for. */
function checkExpressions(melody: Melody, at: At): void {
  const checkRefs = (path: PathSegment[], value: unknown, visible: Set<string> | 'all', allowItem: boolean) => checkReferences(melody, at, path, value, visible, allowItem);
  for (const [id, step] of Object.entries(melody.steps)) {
    const visible = upstreamOf(melody, id);
    checkRefs(['steps', id, 'with'], step.with, visible, step.foreach !== undefined);
    if (step.when) checkRefs(['steps', id, 'when'], step.when, visible, false);
    if (step.foreach) checkRefs(['steps', id, 'foreach'], step.foreach, visible, false);
    if (step.fallback) checkRefs(['steps', id, 'fallback', 'with'], step.fallback.with, visible, step.foreach !== undefined);
    if (step.compensate) checkRefs(['steps', id, 'compensate', 'with'], step.compensate.with, new Set([...visible, id]), false);
    if (step.onFailure === 'fallback' && !step.fallback) at(['steps', id, 'onFailure'], `step '${id}' says onFailure: fallback but has no fallback: { call, with }`);
    for (const field of ['when', 'foreach'] as const) {
      const src = step[field];
      if (src !== undefined && !/^\$\{[^}]*\}$/.test(src.trim())) at(['steps', id, field], `${field} must be one expression, e.g. \${steps.a.output.ok} (got '${src}')`);
      else if (src !== undefined) {
        try {
          parseExpression(src.trim().slice(2, -1));
        } catch (err) {
          at(['steps', id, field], (err as Error).message);
        }
      }
    }
  }
  checkRefs(['outputs'], melody.outputs, 'all', false);
}

/** The `${…}` in one setting: each must parse and read what the melody has (`visible`: the steps it may read). */
function checkReferences(melody: Melody, at: At, path: PathSegment[], value: unknown, visible: Set<string> | 'all', allowItem: boolean): void {
  const inputs = Object.keys(melody.inputs);
  const steps = Object.keys(melody.steps);
  let exprs;
  try {
    exprs = expressionsIn(value);
  } catch (err) {
    return at(path, (err as ExpressionError).message);
  }
  for (const e of exprs) {
    for (const ref of e.refs) {
      const [root, name] = ref;
      if (root === 'inputs') {
        if (name !== undefined && !inputs.includes(name)) at(path, `\${${e.source}} reads input '${name}', which is not declared in inputs${suggest(name, inputs)}`);
      } else if (root === 'steps') {
        if (name === undefined || !Object.hasOwn(melody.steps, name)) at(path, `\${${e.source}} reads step '${name}', which is not a step${suggest(name ?? '', steps)}`);
        else if (visible !== 'all' && !visible.has(name)) at(path, `\${${e.source}} reads step '${name}', but this step does not wait for it: add '${name}' to needs`);
      } else if (root === 'item') {
        if (!allowItem) at(path, `\${${e.source}}: item is only defined in a step with foreach`);
      } else if (root !== 'artifacts' && root !== 'melody') {
        at(path, `\${${e.source}}: '${root}' is not something a melody can read (inputs, steps, item, artifacts, melody)`);
      }
    }
  }
}

/** Checks run-time inputs against the declared ones (types, missing without default) and applies defaults. */
export function bindInputs(melody: Melody, given: Record<string, unknown> = {}, where: { file?: string; locate?: ConfigSource['locate'] } = {}): Record<string, unknown> {
  const problems: MelodyProblem[] = [];
  // Positions in the melody file when it was read from one: the input's declaration.
  const at = (path: PathSegment[]) => ({ file: where.file, ...(where.locate?.(path, 'key') ?? { line: 1, col: 1 }) });
  const out: Record<string, unknown> = Object.create(null);
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(melody.inputs, name)) problems.push({ ...at(['inputs']), message: `input '${name}' is not declared by melody '${melody.melody}'${suggest(name, Object.keys(melody.inputs))}` });
  }
  for (const [name, spec] of Object.entries(melody.inputs)) {
    const value = Object.hasOwn(given, name) ? given[name] : spec.default;
    if (value === undefined) {
      problems.push({ ...at(['inputs', name]), message: `missing input '${name}' of melody '${melody.melody}'${spec.description ? ` (${spec.description})` : ''}` });
      continue;
    }
    const type = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
    if (spec.type !== 'any' && type !== spec.type) problems.push({ ...at(['inputs', name]), message: `input '${name}' must be a ${spec.type}, not a ${type} (${JSON.stringify(value)})` });
    out[name] = value;
  }
  if (problems.length) throw new MelodyError(problems);
  return out;
}
