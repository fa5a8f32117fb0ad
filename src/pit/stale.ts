import type { HealthResult } from '../bootstrap/index.js';
import { assertPattern, InvalidParamsError, subjectMatches } from '../bus/index.js';
import type { PitContext, PitExtension } from './extension.js';
import { method, NO_PARAMS, parseParams, serve, v } from './params.js';

/** What the Stale Manager needs of an artifact catalog (the Artifact Store provides it). */
export interface ArtifactCatalog {
  list(filter?: { state?: 'live' | 'archived' }): CatalogEntry[];
  archive(name: string, version: number): unknown;
  delete(name: string, version: number): unknown;
}

export interface CatalogEntry {
  name: string;
  version: number;
  size: number;
  tags: string[];
  /** Epoch milliseconds. */
  createdAt: number;
  lastAccessAt: number | null;
  accessCount: number;
}

function validPattern(pattern: string): boolean {
  try {
    assertPattern(pattern);
    return true;
  } catch {
    return false; // a pattern that could match nothing would make its rule silently never apply
  }
}

const RuleSchema = v.object({
  id: v.pipe(v.string(), v.minLength(1)),
  /** Artifact names this rule covers: a dot-separated pattern (`reports.*`, `>`), default all. */
  match: v.optional(v.pipe(v.string(), v.check(validPattern, "must be a name pattern: dot-separated words, '*' for one word, '>' (last) for the rest")), '>'),
  /** Older than this (since creation) is stale, unless accessed at least minAccessCount times. */
  maxAgeMs: v.optional(v.pipe(v.number(), v.minValue(0))),
  minAccessCount: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  /** The matched artifacts may hold this many bytes; the least recently used beyond it are stale. */
  maxTotalBytes: v.optional(v.pipe(v.number(), v.minValue(0))),
  /** Artifacts carrying any of these tags are always kept. */
  keepTagged: v.optional(v.array(v.string()), []),
  action: v.optional(v.picklist(['archive', 'delete']), 'archive'),
});
export type StaleRule = v.InferOutput<typeof RuleSchema>;
const RulesSchema = v.object({ rules: v.array(RuleSchema) });
const RunSchema = v.object({ dryRun: v.optional(v.boolean(), true) });

export interface StaleDecision {
  name: string;
  version: number;
  size: number;
  action: 'keep' | 'archive' | 'delete';
  rule: string | null;
  reason: string;
}

/**
 * Stale Manager: retention rules (max age, min access count, max total size, keep tagged) evaluated
 * over the live artifacts, deciding keep, archive or delete for each, with the reason. Runs on a
 * schedule (`with.stale.everyMs`) and on demand; a dry run only reports.
 *
 * Per artifact, the first rule that matches its name decides: a protecting tag keeps it; past
 * maxAge with fewer than minAccessCount accesses it goes; then, over what the rule still keeps,
 * the least recently used go until the total fits maxTotalBytes.
 */
export class StaleManager implements PitExtension<{ rules: StaleRule[] }> {
  readonly name = 'stale';
  #ctx!: PitContext;
  #rules: StaleRule[] = [];
  #timer: NodeJS.Timeout | undefined;
  #catalog: (() => ArtifactCatalog) | undefined;
  #last: { at: number; dryRun: boolean; archived: number; deleted: number; kept: number; ms: number } | undefined;

  constructor(catalog?: () => ArtifactCatalog) {
    this.#catalog = catalog;
  }

  readonly methods = serve({
    'stale.rules.set': method(RulesSchema, (a) => this.setRules(a.rules)),
    'stale.rules.get': method(NO_PARAMS, () => ({ rules: this.#rules })),
    'stale.evaluate': method(NO_PARAMS, () => ({ decisions: this.evaluate() })),
    'stale.run': method(RunSchema, (a) => this.run(a.dryRun)),
  });

  async init(ctx: PitContext): Promise<void> {
    this.#ctx = ctx;
    this.#catalog ??= () => ctx.sibling('artifacts') as unknown as ArtifactCatalog;
    if (Array.isArray(ctx.config.rules)) this.setRules(parseParams('pit.stale.rules', RulesSchema, { rules: ctx.config.rules }).rules);
    const every = Number(ctx.config.everyMs ?? 0);
    if (every > 0) {
      this.#timer = setInterval(() => {
        try {
          this.run(false);
        } catch (err) {
          ctx.log.warn(`scheduled retention run failed: ${(err as Error).message}`);
        }
      }, every).unref();
    }
  }

  restore(state: { rules: StaleRule[] }): void {
    this.#rules = state.rules ?? [];
  }

  snapshot(): { rules: StaleRule[] } {
    return { rules: this.#rules };
  }

  health(): HealthResult {
    return { status: 'healthy', detail: { rules: this.#rules.length, lastRun: this.#last ?? null } };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
  }

  setRules(rules: StaleRule[]): { rules: number } {
    const ids = new Set<string>();
    for (const [i, r] of rules.entries()) {
      if (ids.has(r.id)) throw new InvalidParamsError(`stale.rules.set: rules[${i}].id: '${r.id}' is used twice (rule ids must be unique)`, { method: 'stale.rules.set', field: `rules[${i}].id` });
      ids.add(r.id);
    }
    this.#rules = rules;
    return { rules: rules.length };
  }

  /** Decisions for every live artifact, without acting on them. */
  evaluate(now = Date.now()): StaleDecision[] {
    const entries = this.#catalog!().list({ state: 'live' });
    const decisions: StaleDecision[] = [];
    const byRule = new Map<StaleRule, CatalogEntry[]>();
    for (const e of entries) {
      const rule = this.#rules.find((r) => subjectMatches(r.match, e.name));
      if (!rule) {
        decisions.push({ name: e.name, version: e.version, size: e.size, action: 'keep', rule: null, reason: 'no rule covers it' });
        continue;
      }
      const protect = rule.keepTagged.find((t) => e.tags.includes(t));
      if (protect) {
        decisions.push({ name: e.name, version: e.version, size: e.size, action: 'keep', rule: rule.id, reason: `tagged '${protect}'` });
        continue;
      }
      const age = now - e.createdAt;
      // minAccessCount 0: age alone decides; otherwise enough accesses save an old artifact.
      if (rule.maxAgeMs !== undefined && age > rule.maxAgeMs && (rule.minAccessCount === 0 || e.accessCount < rule.minAccessCount)) {
        const accessed = rule.minAccessCount > 0 ? `, accessed ${e.accessCount} time(s) (< ${rule.minAccessCount})` : '';
        decisions.push({ name: e.name, version: e.version, size: e.size, action: rule.action, rule: rule.id, reason: `older than ${rule.maxAgeMs}ms (${Math.round(age)}ms)${accessed}` });
        continue;
      }
      const list = byRule.get(rule) ?? [];
      list.push(e);
      byRule.set(rule, list);
    }
    // Size budgets: keep the most recently used that fit.
    for (const [rule, list] of byRule) {
      list.sort((a, b) => (b.lastAccessAt ?? b.createdAt) - (a.lastAccessAt ?? a.createdAt));
      let total = 0;
      for (const e of list) {
        total += e.size;
        if (rule.maxTotalBytes !== undefined && total > rule.maxTotalBytes) {
          decisions.push({ name: e.name, version: e.version, size: e.size, action: rule.action, rule: rule.id, reason: `over the size budget of ${rule.maxTotalBytes} bytes (least recently used)` });
          total -= e.size;
        } else {
          const why = rule.maxAgeMs !== undefined && now - e.createdAt > rule.maxAgeMs ? `old, but accessed ${e.accessCount} time(s) (>= ${rule.minAccessCount})` : 'within the rule';
          decisions.push({ name: e.name, version: e.version, size: e.size, action: 'keep', rule: rule.id, reason: why });
        }
      }
    }
    return decisions;
  }

  /** Evaluates and (unless a dry run) archives and deletes; returns what was decided and done. */
  run(dryRun = true): { dryRun: boolean; decisions: StaleDecision[]; archived: number; deleted: number; kept: number; bytesFreed: number } {
    const t0 = performance.now();
    const decisions = this.evaluate();
    let archived = 0;
    let deleted = 0;
    let bytesFreed = 0;
    const catalog = this.#catalog!();
    for (const d of decisions) {
      if (d.action === 'keep') continue;
      if (!dryRun) {
        if (d.action === 'archive') catalog.archive(d.name, d.version);
        else catalog.delete(d.name, d.version);
        this.#ctx.emit(d.action === 'archive' ? 'archived' : 'deleted', { name: d.name, version: d.version, rule: d.rule, reason: d.reason });
      }
      if (d.action === 'archive') archived++;
      else deleted++;
      bytesFreed += d.size;
    }
    const kept = decisions.length - archived - deleted;
    this.#last = { at: Date.now(), dryRun, archived, deleted, kept, ms: Math.round((performance.now() - t0) * 1000) / 1000 };
    return { dryRun, decisions, archived, deleted, kept, bytesFreed };
  }
}
