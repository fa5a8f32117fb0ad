/** Types of channel.mjs. */
import type { Readable, Writable } from 'node:stream';
export function openChannel(argv?: readonly string[]): Promise<{ input: Readable; output: Writable }>;
export function onLines(input: Readable, onLine: (line: string) => void, onChunkEnd?: () => void): void;
