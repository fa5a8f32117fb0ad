import { inspect } from 'node:util';

/** Anything thrown, as an Error: a thrown string or object is wrapped so its class name and text still reach the report. */
export function toError(value: unknown, context: string): Error {
  if (value instanceof Error) return value;
  const err = new NonErrorThrown(`${context} threw a non-Error value: ${inspect(value, { depth: 2, breakLength: Infinity })}`);
  err.thrown = value;
  return err;
}

export class NonErrorThrown extends Error {
  override name = 'NonErrorThrown';
  thrown: unknown;
}

/** `ClassName: message`, the form the boot report and the CLI use. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** Marks a promise handled so a rejection nobody awaits never becomes an unhandledRejection; returns it unchanged. */
export function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
