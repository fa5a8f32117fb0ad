import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/bootstrap/index.js';
import type { BusApi } from '../../src/bus/index.js';
import type { PitContext, PitExtension } from '../../src/pit/extension.js';

export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A real PitContext for one extension under test: a temp data dir, events collected. */
export function pitContext(bus: BusApi, config: Record<string, unknown> = {}, siblings: Record<string, PitExtension> = {}) {
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const ctx: PitContext = {
    bus,
    dataDir: mkdtempSync(join(tmpdir(), 'symphony-pit-')),
    log: silent,
    config,
    emit: (type, data) => void events.push({ type, data }),
    sibling: <T extends PitExtension>(name: string) => siblings[name] as T,
  };
  return { ctx, events };
}
