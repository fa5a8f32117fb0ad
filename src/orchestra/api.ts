import type { Logger } from '../bootstrap/index.js';
import type { BusApi } from '../bus/index.js';

/** What an extension's `activate` receives, in both execution models. */
export interface ExtensionContext {
  readonly name: string;
  readonly version: string;
  /** The extension's own folder. */
  readonly dir: string;
  /** The bus, with the rights its manifest declares (calls outside them fail with -32002). */
  readonly bus: BusApi;
  /** Its settings: the Orchestra's `with.config.<name>`. */
  readonly config: unknown;
  readonly log: Logger;
}

/** An extension module's default export. */
export interface ExtensionModule {
  activate(ctx: ExtensionContext): unknown;
  deactivate?(): unknown;
}

/** Adds types to an extension; returns it as it is. */
export function defineExtension(ext: ExtensionModule): ExtensionModule {
  return ext;
}
