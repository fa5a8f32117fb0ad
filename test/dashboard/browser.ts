/**
 * Debian's chromium driven by playwright-core, as the dashboard tests need it: headless, sandbox
 * off (the tests run as root), nothing talking to the network but the page, a fresh profile.
 * Without chromium the browser tests are skipped on a workstation and FAIL under CI.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether the browser tests run: under CI a missing chromium is an error, not a reason to skip. */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: the dashboard's browser tests need Debian's chromium (.ci/run installs it: apt-get install chromium)`);
  return false;
}

/** A fresh profile each time (playwright passes it as --user-data-dir; it refuses the flag in args). */
export async function launch(viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'symphony-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
