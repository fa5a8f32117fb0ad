/** The fenced code blocks of a Markdown page, with the line each opens on (for the docs' tests). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Block {
  page: string;
  line: number;
  lang: string;
  text: string;
}

/** `page` is relative to `root`; each block names it and its opening line. */
export function blocks(root: string, page: string): Block[] {
  const out: Block[] = [];
  const lines = readFileSync(join(root, page), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    out.push({ page, line: start + 1, lang: open[1]!, text: body.join('\n') });
  }
  return out;
}
