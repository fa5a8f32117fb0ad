// After tsc: make the CLI executable and regenerate the shipped JSON Schemas (system config and
// melody files) from the schemas the code validates with, so editors and the kernel agree.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
chmodSync(resolve(root, 'dist/cli/main.js'), 0o755);

let toJsonSchema;
try {
  ({ toJsonSchema } = await import('@valibot/to-json-schema'));
} catch {
  // A production install (no dev dependencies) keeps the committed schema files.
  process.exit(0);
}
const { ConfigSchema } = await import(resolve(root, 'dist/config/schema.js'));
const { MelodySchema } = await import(resolve(root, 'dist/conductor/melody.js'));

function write(file, schema, id, title) {
  const { $schema, ...rest } = toJsonSchema(schema, { errorMode: 'ignore', target: 'draft-07' });
  mkdirSync(resolve(root, 'schema'), { recursive: true });
  writeFileSync(resolve(root, 'schema', file), `${JSON.stringify({ $schema, $id: `https://symphony.dev/schema/${file}`, title, ...rest }, null, 2)}\n`);
}
write('symphony.schema.json', ConfigSchema, 'symphony', 'Symphony system configuration');
write('melody.schema.json', MelodySchema, 'melody', 'Symphony melody');
