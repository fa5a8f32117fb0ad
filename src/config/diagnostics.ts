import { relative } from 'node:path';

/** One finding about a config file, at its position. */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
  message: string;
}

/** `FILE:LINE:COL: message` (warnings say so), the form editors and CI annotations understand. */
export function formatDiagnostic(d: Diagnostic, cwd = process.cwd()): string {
  const rel = relative(cwd, d.file);
  const file = rel && !rel.startsWith('..') ? rel : d.file;
  return `${file}:${d.line}:${d.col}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}

/** A config file that could not be used; `diagnostics` says where and why. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(d)).join('\n'));
  }
}

/** Diagnostics in the order they are written in the file. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => a.line - b.line || a.col - b.col);
}
