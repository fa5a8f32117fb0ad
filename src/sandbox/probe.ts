/**
 * Can this machine run the sandbox? Asked once per process (cached): bubblewrap must be installed
 * and able to make its namespaces here (some containers and hardened kernels refuse user
 * namespaces). The probe starts the real thing, a Node process in the view the sandbox gives,
 * so a sandbox that cannot start is known at the first isolated start, not discovered later.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { BWRAP, bwrapArgs } from './bwrap.js';
import { runtimeView } from './runtime.js';

export type SandboxProbe = { available: true } | { available: false; reason: string; remedy: string };

let probed: SandboxProbe | undefined;

export function probeSandbox(): SandboxProbe {
  probed ??= run();
  return probed;
}

/** For tests: forget the cached answer (e.g. after SYMPHONY_SANDBOX changed). */
export function resetSandboxProbe(): void {
  probed = undefined;
}

function run(): SandboxProbe {
  if (process.platform !== 'linux') return { available: false, reason: `the sandbox needs Linux namespaces (this is ${process.platform})`, remedy: 'run Symphony on Linux for confined extensions' };
  // An operator's switch for machines where the sandbox is known to misbehave (and for tests of the degraded path).
  if (process.env.SYMPHONY_SANDBOX === 'off') return { available: false, reason: 'the sandbox is switched off (SYMPHONY_SANDBOX=off)', remedy: 'unset SYMPHONY_SANDBOX' };
  try {
    accessSync(BWRAP, constants.X_OK);
  } catch {
    return { available: false, reason: `bubblewrap is not installed (${BWRAP})`, remedy: 'install it: apt-get install bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora)' };
  }
  const args = bwrapArgs({ runtime: runtimeView(process.execPath), readOnly: [], writable: [], net: false, env: {}, cwd: '/', scratchMb: 1 }, process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const r = spawnSync(BWRAP, args, { encoding: 'utf8', timeout: 10_000, env: {} });
  if (r.status === 0 && r.stdout.trim() !== '') return { available: true };
  const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0];
  return {
    available: false,
    reason: `bubblewrap cannot start a sandbox here: ${why}`,
    remedy: /namespace|Operation not permitted|permission/i.test(why ?? '') ? 'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04+)' : 'check that bubblewrap works: bwrap --ro-bind / / true',
  };
}
