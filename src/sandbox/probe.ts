/**
 * Can this machine run the sandbox? Asked once per process (cached): bubblewrap must be installed
 * and able to make its namespaces here (some containers and hardened kernels refuse user
 * namespaces). The probe starts the real thing, a Node process in the view the sandbox gives,
 * so a sandbox that cannot start is known at the first isolated start, not discovered later.
 *
 * The probe is a whole Node start (tens of ms, hundreds on a loaded machine): a system asks for it
 * with probeSandboxAsync() as early as it knows it will need it, so it runs beside the other
 * stages' starts instead of blocking the event loop; probeSandbox() then finds the answer cached.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { BWRAP, bwrapArgs } from './bwrap.js';
import { runtimeView, runtimeViewAsync, type RuntimeView } from './runtime.js';

export type SandboxProbe = { available: true } | { available: false; reason: string; remedy: string };

/** The machine's answer, asked once per process: the settled one, and the one on its way. */
const answer: { probed?: SandboxProbe; pending?: Promise<SandboxProbe>; generation: number } = { generation: 0 };

/** The answer, probing now (synchronously) unless it is known. */
export function probeSandbox(): SandboxProbe {
  answer.probed ??= precheck() ?? interpret(spawnSync(BWRAP, probeArgs(runtimeView(process.execPath)), { encoding: 'utf8', timeout: 10_000, env: {} }));
  return answer.probed;
}

/** The same answer without blocking the event loop; concurrent askers share one probe. */
export function probeSandboxAsync(): Promise<SandboxProbe> {
  if (answer.probed) return Promise.resolve(answer.probed);
  if (answer.pending) return answer.pending;
  const generation = answer.generation;
  const pending = (async () => {
    const early = precheck();
    const probe = early ?? interpret(await spawnProbe(probeArgs(await runtimeViewAsync(process.execPath))));
    // Forgotten meanwhile (resetSandboxProbe): this answer is for the settings before it.
    if (generation === answer.generation) answer.probed ??= probe;
    return probe;
  })();
  answer.pending = pending;
  void pending.finally(() => {
    if (answer.pending === pending) answer.pending = undefined;
  });
  return pending;
}

/** For tests: forget the cached answer (e.g. after SYMPHONY_SANDBOX changed). */
export function resetSandboxProbe(): void {
  answer.probed = undefined;
  answer.pending = undefined;
  answer.generation++;
}

/** What is known without starting anything: not Linux, switched off, bubblewrap missing. */
function precheck(): SandboxProbe | undefined {
  if (process.platform !== 'linux') return { available: false, reason: `the sandbox needs Linux namespaces (this is ${process.platform})`, remedy: 'run Symphony on Linux for confined extensions' };
  // An operator's switch for machines where the sandbox is known to misbehave (and for tests of the degraded path).
  if (process.env.SYMPHONY_SANDBOX === 'off') return { available: false, reason: 'the sandbox is switched off (SYMPHONY_SANDBOX=off)', remedy: 'unset SYMPHONY_SANDBOX' };
  try {
    accessSync(BWRAP, constants.X_OK);
  } catch {
    return { available: false, reason: `bubblewrap is not installed (${BWRAP})`, remedy: 'install it: apt-get install bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora)' };
  }
  return undefined;
}

const probeArgs = (runtime: RuntimeView) => bwrapArgs({ runtime, readOnly: [], writable: [], net: false, env: {}, cwd: '/', scratchMb: 1 }, process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);

interface ProbeRun {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

/** spawnSync's result, without blocking: the probe's output, its status, or why it could not run (10 s at most). */
function spawnProbe(args: string[]): Promise<ProbeRun> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(BWRAP, args, { env: {}, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    } catch (error) {
      return resolve({ status: null, stdout: '', stderr: '', error: error as Error });
    }
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (error) => resolve({ status: null, stdout, stderr, error }));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function interpret(r: ProbeRun): SandboxProbe {
  if (r.status === 0 && r.stdout.trim() !== '') return { available: true };
  const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0];
  return {
    available: false,
    reason: `bubblewrap cannot start a sandbox here: ${why}`,
    remedy: /namespace|Operation not permitted|permission/i.test(why ?? '') ? 'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04+)' : 'check that bubblewrap works: bwrap --ro-bind / / true',
  };
}
