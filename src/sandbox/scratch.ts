/**
 * Whether a confined process has filled its private scratch /tmp (a tmpfs of SCRATCH_MB): seen
 * from the host through the root of a process inside the sandbox (/proc/PID/root), the only way
 * to look at a mount that exists in its own mount namespace alone.
 */
import { readlinkSync, statfsSync } from 'node:fs';

const TMPFS_MAGIC = 0x01021994;
/** Less free than this is full: the next 8 KiB write would fail with ENOSPC. */
const FULL_BYTES = 256 * 1024;

/** True when one of `pids` (a sandbox's processes) sees a /tmp tmpfs of its own with no room left. */
export function scratchFull(pids: readonly number[]): boolean {
  let own: string;
  try {
    own = readlinkSync('/proc/self/ns/mnt');
  } catch {
    return false;
  }
  for (const pid of pids) {
    try {
      // The host's own view would say nothing of the sandbox's /tmp: only a process in another mount namespace.
      if (readlinkSync(`/proc/${pid}/ns/mnt`) === own) continue;
      const s = statfsSync(`/proc/${pid}/root/tmp`);
      if (s.type !== TMPFS_MAGIC) continue;
      return s.bavail * s.bsize < FULL_BYTES;
    } catch {
      // gone, or not ours to look at
    }
  }
  return false;
}
