/**
 * `fn` over the items, at most `limit` at a time, results in order. At the first rejection no more
 * items are handed out, and it rejects (with that first error) once the calls in flight have ended:
 * a failed fan-out leaves nothing running behind it (a retry would overlap it otherwise).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (!failure && next < items.length) {
        const i = next++;
        try {
          out[i] = await fn(items[i]!);
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure) throw failure.error;
  return out;
}
