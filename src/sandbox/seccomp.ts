/**
 * The seccomp filter an isolated process runs under (classic BPF, as bubblewrap's `--seccomp FD`
 * loads it): the system calls a confined extension has no business making answer an error instead
 * of running. Refusals return an errno, not a kill, so the process lives to report what it tried
 * (the guard logs it) and the kernel sees a denial rather than a crash. x86_64 only: on another
 * architecture the filter is not built and the caller says so.
 */

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const AUDIT_ARCH_X86_64 = 0xc000003e;
/** x32 system calls (same arch value, this bit set in the number) would bypass every number below. */
const X32_SYSCALL_BIT = 0x40000000;

const EPERM = 1;
const EACCES = 13;
const ENOSYS = 38;

// struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little-endian).
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16;

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

/** x86_64 numbers of the calls refused outright, with what each would allow. */
export const REFUSED_SYSCALLS: Readonly<Record<string, number>> = {
  ptrace: 101, // read or steer another process
  process_vm_readv: 310, // read another process's memory
  process_vm_writev: 311,
  kcmp: 312,
  mount: 165, // change the filesystem view
  umount2: 166,
  pivot_root: 155,
  chroot: 161,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  unshare: 272, // nested namespaces: a way back to capabilities
  setns: 308,
  keyctl: 250, // the kernel keyring is not namespaced
  add_key: 248,
  request_key: 249,
  bpf: 321,
  perf_event_open: 298,
  userfaultfd: 323, // a classic exploitation aid
  kexec_load: 246,
  kexec_file_load: 320,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  reboot: 169,
  swapon: 167,
  swapoff: 168,
  acct: 163,
  quotactl: 179,
  settimeofday: 164,
  clock_settime: 227,
  iopl: 172,
  ioperm: 173,
  syslog: 103,
  uselib: 134,
  vhangup: 153,
  lookup_dcookie: 212,
  name_to_handle_at: 303,
  open_by_handle_at: 304, // escapes a bind mount by file handle
  personality: 135,
};

/** Answered ENOSYS so the C library and libuv fall back: io_uring would run socket and file operations beyond this filter; clone3's flags are behind a pointer, so it cannot be checked. */
export const UNSUPPORTED_SYSCALLS: Readonly<Record<string, number>> = {
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  clone3: 435,
};

const SYS_SOCKET = 41;
const SYS_CLONE = 56;
const AF_INET = 2;
const AF_INET6 = 10;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME. */
const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

export interface SeccompOptions {
  /** Granted network: socket(AF_INET / AF_INET6) allowed. Any other family (Unix, netlink, packet…) is refused either way. */
  net: boolean;
}

type Instruction = { code: number; jt: number | string; jf: number | string; k: number } | { label: string };

/** True where the filter can be built (it is written for x86_64's system call numbers). */
export function seccompSupported(): boolean {
  return process.arch === 'x64';
}

/** The compiled filter: an array of struct sock_filter (8 bytes each), ready to be written to bwrap's fd. */
export function seccompProgram(options: SeccompOptions): Buffer {
  const ld = (offset: number): Instruction => ({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offset });
  const ret = (k: number): Instruction => ({ code: BPF_RET_K, jt: 0, jf: 0, k });
  const jeq = (k: number, jt: number | string, jf: number | string = 0): Instruction => ({ code: BPF_JEQ_K, jt, jf, k });
  const program: Instruction[] = [
    ld(OFFSET_ARCH),
    jeq(AUDIT_ARCH_X86_64, 0, 'kill'),
    ld(OFFSET_NR),
    { code: BPF_JGE_K, jt: 'eperm', jf: 0, k: X32_SYSCALL_BIT },
    ...Object.values(REFUSED_SYSCALLS).map((nr) => jeq(nr, 'eperm')),
    ...Object.values(UNSUPPORTED_SYSCALLS).map((nr) => jeq(nr, 'enosys')),
    jeq(SYS_CLONE, 'clone'),
    jeq(SYS_SOCKET, 'socket'),
    ret(SECCOMP_RET_ALLOW),
    { label: 'clone' },
    ld(OFFSET_ARG0_LOW),
    { code: BPF_JSET_K, jt: 'eperm', jf: 0, k: CLONE_NAMESPACE_FLAGS },
    ret(SECCOMP_RET_ALLOW),
    { label: 'socket' },
    ...(options.net ? [ld(OFFSET_ARG0_LOW), jeq(AF_INET, 'allow'), jeq(AF_INET6, 'allow')] : []),
    ret(SECCOMP_RET_ERRNO | EACCES),
    { label: 'allow' },
    ret(SECCOMP_RET_ALLOW),
    { label: 'eperm' },
    ret(SECCOMP_RET_ERRNO | EPERM),
    { label: 'enosys' },
    ret(SECCOMP_RET_ERRNO | ENOSYS),
    { label: 'kill' },
    ret(SECCOMP_RET_KILL_PROCESS),
  ];
  return assemble(program);
}

/** Resolves labels to the relative jump offsets BPF wants and packs the instructions. */
function assemble(program: Instruction[]): Buffer {
  const labels = new Map<string, number>();
  const code: Exclude<Instruction, { label: string }>[] = [];
  for (const i of program) {
    if ('label' in i) labels.set(i.label, code.length);
    else code.push(i);
  }
  const out = Buffer.alloc(code.length * 8);
  code.forEach((i, at) => {
    const offset = (j: number | string): number => {
      if (typeof j === 'number') return j;
      const target = labels.get(j);
      if (target === undefined) throw new Error(`seccomp: no label '${j}'`);
      const rel = target - at - 1;
      if (rel < 0 || rel > 255) throw new Error(`seccomp: jump to '${j}' out of range (${rel})`);
      return rel;
    };
    out.writeUInt16LE(i.code, at * 8);
    out.writeUInt8(offset(i.jt), at * 8 + 2);
    out.writeUInt8(offset(i.jf), at * 8 + 3);
    out.writeUInt32LE(i.k >>> 0, at * 8 + 4);
  });
  return out;
}
