// The shipped JSON Schemas (system config and melody files), generated from the schemas the code
// validates with, so editors and the kernel agree. `npm run schema` rewrites schema/*.json after a
// schema change; test/schema.test.ts fails while the committed files differ from what this makes.
// The build never writes them: a build must not change tracked files.
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The text of each shipped schema file, from the config and melody schemas (valibot). */
export function schemaFiles({ ConfigSchema, MelodySchema }, toJsonSchema) {
  const render = (file, schema, title) => {
    const { $schema, ...rest } = toJsonSchema(schema, { errorMode: 'ignore', target: 'draft-07' });
    return [file, `${JSON.stringify({ $schema, $id: `https://symphony.dev/schema/${file}`, title, ...rest }, null, 2)}\n`];
  };
  return Object.fromEntries([
    render('symphony.schema.json', ConfigSchema, 'Symphony system configuration'),
    render('melody.schema.json', MelodySchema, 'Symphony melody'),
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const { toJsonSchema } = await import('@valibot/to-json-schema');
  const { ConfigSchema } = await import(resolve(root, 'dist/config/schema.js'));
  const { MelodySchema } = await import(resolve(root, 'dist/conductor/melody.js'));
  for (const [file, text] of Object.entries(schemaFiles({ ConfigSchema, MelodySchema }, toJsonSchema))) {
    writeFileSync(resolve(root, 'schema', file), text);
    console.log(`wrote schema/${file}`);
  }
}
