/**
 * The operating-system sandbox of isolated extensions and of kernel-spawned peers that ask for
 * it: bubblewrap namespaces and a minimal filesystem view, a seccomp filter, cgroup limits.
 */
export { confine, SandboxUnavailableError, DEFAULT_CPU_PERCENT, DEFAULT_PROCESSES, type Confinement, type IsolationLevel, type IsolationPolicy, type SandboxRequest } from './confine.js';
export { probeSandbox, probeSandboxAsync, resetSandboxProbe, type SandboxProbe } from './probe.js';
export { bwrapArgs, BWRAP, type BwrapView } from './bwrap.js';
export { seccompProgram, seccompSupported, REFUSED_SYSCALLS, UNSUPPORTED_SYSCALLS } from './seccomp.js';
export { createCgroup, type Cgroup, type CgroupLimits } from './cgroup.js';
export { runtimeView, runtimeViewAsync, sharedLibraries, type RuntimeView } from './runtime.js';
