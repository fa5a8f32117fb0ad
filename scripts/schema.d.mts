import type { GenericSchema } from 'valibot';
export function schemaFiles(schemas: { ConfigSchema: GenericSchema; MelodySchema: GenericSchema }, toJsonSchema: (schema: GenericSchema, options: object) => object): Record<string, string>;
