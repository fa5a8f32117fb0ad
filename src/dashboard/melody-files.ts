import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * The melodies the page may run: the files in the Conductor's melody folders (the only ones it runs
 * for a caller other than the kernel). The page names one by its entry here, never by a path, so
 * no path the page sends reaches the file system.
 */
export interface MelodyFile {
  /** `FOLDER_NAME/FILE` as listed; what the page sends back. */
  id: string;
  path: string;
  melody: string;
  description: string;
  /** Declared inputs: name -> { type, default? }. */
  inputs: Record<string, { type: string; default?: unknown }>;
}

const MAX_FILES = 100;

export async function listMelodies(folders: readonly string[]): Promise<MelodyFile[]> {
  const out: MelodyFile[] = [];
  // Imported when a page asks, not with the listener: the YAML parser is the largest module a boot would load for it.
  const { parse } = await import('yaml');
  for (const folder of folders) {
    let names: string[];
    try {
      names = readdirSync(folder).filter((n) => /\.(ya?ml|json)$/i.test(n)).sort();
    } catch {
      continue; // no such folder: nothing to run from it
    }
    for (const name of names) {
      if (out.length >= MAX_FILES) return out;
      const path = join(folder, name);
      let doc: { melody?: unknown; description?: unknown; inputs?: Record<string, { type?: unknown; default?: unknown }> } | null;
      try {
        doc = parse(readFileSync(path, 'utf8')) as typeof doc;
      } catch {
        continue; // not a melody the Conductor could read either
      }
      if (!doc || typeof doc.melody !== 'string') continue;
      const inputs: MelodyFile['inputs'] = {};
      for (const [k, v] of Object.entries(doc.inputs ?? {})) inputs[k] = { type: typeof v?.type === 'string' ? v.type : 'string', ...(v && 'default' in v ? { default: v.default } : {}) };
      out.push({ id: `${basename(folder)}/${name}`, path, melody: doc.melody, description: typeof doc.description === 'string' ? doc.description : '', inputs });
    }
  }
  return out;
}
