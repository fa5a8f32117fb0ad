import { resolve } from 'node:path';
import { discover, resolveExtensions } from './discover.js';
import { grantOptions, grantsOf, refuseDuplicates, reviewGrant, unusedGrants, type Ceilings, type GrantReview } from './grants.js';
import { compareExtensionNames, locateInManifest, type ExtensionManifest, type ExtensionProblem } from './manifest.js';

/** What the Orchestra would load, and why not the rest: the boot's plan and what `symphony check` prints. */
export interface ExtensionPlan {
  /** Every manifest found (valid or not), asked against granted, in load order. */
  reviews: GrantReview[];
  /** The manifests to run, each with its effective rights, dependencies first-resolvable. */
  load: ExtensionManifest[];
  /** Every problem, of manifests and grants together (warnings have severity 'warning'). */
  problems: ExtensionProblem[];
}

/**
 * Discovers the extensions in `settings.paths`, reviews each one against its grant, refuses
 * duplicate providers (the later in path order) and resolves dependencies among the rest. All
 * problems come back at once: a manifest's own and its grant's.
 */
export async function planExtensions(settings: { paths?: string[]; grants?: unknown; limits?: Partial<Ceilings> }, baseDir: string, symphonyVersion: string): Promise<ExtensionPlan> {
  const paths = (settings.paths ?? []).map((p) => resolve(baseDir, p));
  const d = await discover(paths);
  const grants = grantsOf(settings);
  const options = grantOptions(settings, baseDir);
  const rank = (m: ExtensionManifest) => {
    const i = d.order.indexOf(m.dir);
    return i < 0 ? d.order.length : i;
  };
  const byOrder = (a: ExtensionManifest, b: ExtensionManifest) => rank(a) - rank(b) || compareExtensionNames(a.name, b.name);
  const valid = new Set(d.found);
  const reviews = [...d.found, ...d.drafts].sort(byOrder).map((m) => {
    const r = reviewGrant(m, grants, options);
    // A manifest with problems of its own is never loaded; its grant's problems are still named.
    return valid.has(m) ? r : { ...r, effective: undefined };
  });
  const accepted = reviews.flatMap((r) => (r.effective ? [r.effective] : []));
  const { keep, problems: duplicates } = refuseDuplicates(accepted);
  // Each at the refused one's provides entry.
  for (const p of duplicates) {
    const m = accepted.find((x) => x.name === p.extension && x.file === p.file);
    const i = m ? m.provides.findIndex((x) => p.message.includes(`provides '${x}'`)) : -1;
    if (m && i >= 0) Object.assign(p, await locateInManifest(m.file, ['symphony', 'provides', i]));
  }
  const { load, problems: resolution } = resolveExtensions(keep, symphonyVersion);
  const problems = [...d.problems, ...reviews.flatMap((r) => r.problems), // With no paths (a profile without extensions) the grants are idle by design, not typos.
    ...(paths.length ? unusedGrants([...d.found, ...d.drafts], grants, options) : []), ...duplicates, ...resolution];
  return { reviews, load, problems };
}
