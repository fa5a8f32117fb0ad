/**
 * The tokens the kernel issued: who says hello with one is that identity, with its rights, whatever
 * name it claims. Looked up by the token's hash, then compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ALL_RIGHTS, grantsFor, type Grants, type Rights } from './rights.js';

export interface Identity {
  name: string;
  grants: Grants;
  /** The operator's token: full rights, any number of connections. */
  operator: boolean;
  secret: Buffer;
}

export class Tokens {
  readonly #byHash = new Map<string, Identity>();

  /** A new secret (or the one given) for `name` with these rights. */
  issue(name: string, rights: Rights = ALL_RIGHTS, options: { operator?: boolean; token?: string } = {}): string {
    const token = options.token ?? randomBytes(32).toString('base64url');
    this.#byHash.set(hash(token), { name, grants: grantsFor(rights), operator: options.operator ?? false, secret: Buffer.from(token) });
    return token;
  }

  revoke(token: string): void {
    this.#byHash.delete(hash(token));
  }

  authenticate(token: string): Identity | undefined {
    const identity = this.#byHash.get(hash(token));
    if (!identity) return undefined;
    const given = Buffer.from(token);
    return given.length === identity.secret.length && timingSafeEqual(given, identity.secret) ? identity : undefined;
  }

  /** The rights of an identity the kernel issued a token for (never the operator's: it names no one). */
  grantsOf(name: string): Grants | undefined {
    for (const identity of this.#byHash.values()) if (identity.name === name && !identity.operator) return identity.grants;
    return undefined;
  }
}

function hash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
