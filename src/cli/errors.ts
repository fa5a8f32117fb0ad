/** A usage or config problem: printed, exit 2. */
export class UsageError extends Error {}

/** The data folder is another system's: printed, exit 1 (nothing was started). */
export class FolderInUse extends Error {}
