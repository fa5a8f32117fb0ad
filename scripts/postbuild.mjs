// After tsc: make the CLI executable and regenerate the shipped JSON Schema from the one schema.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
chmodSync(resolve(root, 'dist/cli/main.js'), 0o755);

const { ConfigSchema } = await import(resolve(root, 'dist/config/schema.js'));
let toJsonSchema;
try {
  ({ toJsonSchema } = await import('@valibot/to-json-schema'));
} catch {
  // A production install (no dev dependencies) keeps the committed schema file.
  process.exit(0);
}
const schema = toJsonSchema(ConfigSchema, { errorMode: 'ignore', target: 'draft-07' });
const { $schema, ...rest } = schema;
const ordered = { $schema, $id: 'https://symphony.dev/schema/symphony.schema.json', title: 'Symphony system configuration', ...rest };
mkdirSync(resolve(root, 'schema'), { recursive: true });
writeFileSync(resolve(root, 'schema/symphony.schema.json'), `${JSON.stringify(ordered, null, 2)}\n`);
