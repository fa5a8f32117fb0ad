import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { manifestPin } from '../orchestra/index.js';

/**
 * `symphony init`: a new system folder that boots as it is: a config with the bus, the Pit, the
 * Orchestra and the Conductor, one component, one isolated extension granted exactly what its
 * manifest asks (pinned to it), one melody, and a README saying what each file is.
 */

export class FolderNotEmpty extends Error {}

const MANIFEST = {
  name: 'greeter',
  version: '1.0.0',
  description: 'Greets whoever it is given; runs isolated, in its own process.',
  main: 'index.js',
  type: 'module',
  symphony: { kind: 'motif', execution: 'isolated', provides: ['greeter.greet'], activation: ['onCall'] },
};

const EXTENSION = `// An isolated extension: its own process, only the rights its grant gives (see symphony.yaml).
export default {
  async activate(ctx) {
    ctx.bus.handle('greeter.greet', ({ name = 'world' } = {}) => ({ greeting: \`hello, \${name}\` }));
  },
};
`;

const COMPONENT = `// A component: start() returns its instance (what components that need it get); stop() ends it.
export default {
  async start(ctx) {
    const started = new Date().toISOString();
    ctx.log.info(\`clock started at \${started}\`);
    return { started, now: () => new Date().toISOString() };
  },
  health() {
    return true;
  },
};
`;

const MELODY = `# A melody: steps the Conductor runs, each a bus call. Run it: symphony run melodies/hello.yaml -i name=you
melody: hello
description: Greets someone through the greeter extension.
inputs:
  name: { type: string, default: world }
steps:
  greet:
    call: greeter.greet
    with: { name: '\${inputs.name}' }
outputs:
  greeting: \${steps.greet.output.greeting}
`;

function config(pin: string): string {
  return `# A Symphony system. Boot it: symphony up   (check it first: symphony check)
components:
  bus:       { use: builtin:bus }
  pit:       { use: builtin:pit, needs: [bus], late: [conductor] }
  clock:     { use: ./components/clock.mjs }
  orchestra:
    use: builtin:orchestra
    needs: [bus, pit]
    with:
      paths: [./extensions]
      # A manifest only asks; the operator grants. This grant is pinned to the manifest it was
      # written for: change the manifest and print a new one with symphony grant ./extensions.
      grants:
        greeter: { manifest: ${pin}, execution: isolated, provides: [greeter.greet] }
  conductor: { use: builtin:conductor, needs: [orchestra] }
`;
}

const README = `# A Symphony system

- \`symphony.yaml\`: the system: the bus, the Pit, a component (\`clock\`), the Orchestra with one
  extension, and the Conductor.
- \`components/clock.mjs\`: a component.
- \`extensions/greeter/\`: an isolated extension (\`package.json\` is its manifest: what it asks).
- \`melodies/hello.yaml\`: a melody.

    symphony check                                  # validate everything, start nothing
    symphony up                                     # boot; Ctrl-C stops it
    symphony ps                                     # (another terminal) what runs
    symphony call greeter.greet '{"name": "you"}'
    symphony run melodies/hello.yaml -i name=you    # (with the system stopped) boot, run, stop

The system keeps its state in \`.symphony/\` here.
`;

/** Writes the scaffold into `dir` (created if missing); refuses a folder that has anything in it. */
export async function scaffold(dir: string): Promise<string[]> {
  const present = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  if (present.length) throw new FolderNotEmpty(`${dir} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}): nothing was written; give an empty or new folder: symphony init DIR`);
  const files: Record<string, string> = {
    'symphony.yaml': config(manifestPin(MANIFEST)),
    'components/clock.mjs': COMPONENT,
    'extensions/greeter/package.json': `${JSON.stringify(MANIFEST, null, 2)}\n`,
    'extensions/greeter/index.js': EXTENSION,
    'melodies/hello.yaml': MELODY,
    'README.md': README,
    '.gitignore': '.symphony/\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text, { flag: 'wx' });
  }
  return Object.keys(files);
}
