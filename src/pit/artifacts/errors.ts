/**
 * The Artifact Store's errors as bus callers see them: an absent artifact (-32602, reason
 * `not-found`), and a failure while writing content mapped to a typed error naming the artifact.
 */
import { BusError, InternalError, InvalidParamsError } from '../../bus/index.js';
import { BlobTooLargeError } from './blobs.js';

/**
 * The artifact (or content) named in a request does not exist. Code -32602 (invalid params: the
 * params name something absent), so remote callers see an InvalidParamsError; `data.reason` is
 * `'not-found'` and `data` names the artifact.
 */
export class ArtifactNotFoundError extends InvalidParamsError {
  override name = 'ArtifactNotFoundError';
  constructor(message: string, data: { name?: string; version?: number; hash?: string; upload?: string }) {
    super(message, { reason: 'not-found', ...data });
  }
}

/** A source stream failed (as opposed to the store's own disk). */
class SourceError extends Error {
  override name = 'SourceError';
}

/** Tags errors of the caller's source apart from the store's own I/O errors. */
export async function* sourceOf(src: AsyncIterable<Uint8Array | string>): AsyncGenerator<Uint8Array | string> {
  try {
    for await (const chunk of src) yield chunk as Uint8Array | string;
  } catch (err) {
    throw new SourceError((err as Error).message ?? String(err), { cause: err });
  }
}

/** Maps a failure while writing content to a typed bus error that names the artifact. */
export function writeError(err: unknown, name: string, file?: string): BusError {
  if (err instanceof BusError) return err;
  if (err instanceof BlobTooLargeError) return new InvalidParamsError(`artifacts: ${err.message}`, { name, maxBlobBytes: err.maxBytes });
  if (err instanceof SourceError) {
    const cause = err.cause as NodeJS.ErrnoException | undefined;
    if (file !== undefined) return new InvalidParamsError(`artifacts.put '${name}': cannot read the file ${file}: ${cause?.message ?? err.message}`, { name, file });
    return new InternalError(`artifacts.put '${name}': the source stream failed: ${cause?.message ?? err.message}`, { name }, { cause });
  }
  return new InternalError(`artifacts: cannot store '${name}': ${(err as Error).message ?? String(err)}`, { name }, { cause: err });
}
