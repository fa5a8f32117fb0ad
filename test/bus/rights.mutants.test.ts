/**
 * Rights and tokens (src/bus/rights.ts, tokens.ts), the checks every call, registration, publish
 * and subscribe of a party with rights goes through: each test kills mutants that survived the
 * bus's other tests (see docs/testing.md).
 */
import { describe, expect, it } from 'vitest';
import { Bus, ForbiddenError } from '../../src/bus/index.js';
import { ALL_GRANTS, ALL_RIGHTS, Grants, grantsFor, type Rights } from '../../src/bus/rights.js';
import { Tokens } from '../../src/bus/tokens.js';

const rights = (r: Partial<Rights>): Rights => ({ provides: [], calls: [], publishes: [], subscribes: [], ...r });

describe('grants', () => {
  it('each kind of right is answered from its own patterns, whatever was asked of the others before', () => {
    // One subject asked of every kind in turn: a cache shared between kinds would answer the later
    // ones with the first one's verdict.
    const g = new Grants(rights({ provides: ['svc.*'], subscribes: ['svc.>'] }));
    expect(['provides', 'calls', 'publishes', 'subscribes'].map((k) => g.allows(k as keyof Rights, 'svc.one'))).toEqual([true, false, false, true]);
    const h = new Grants(rights({ calls: ['svc.one'] }));
    expect(['calls', 'provides', 'subscribes', 'publishes', 'calls'].map((k) => h.allows(k as keyof Rights, 'svc.one'))).toEqual([true, false, false, false, true]);
  });

  it('a subject is allowed when any one pattern matches it, not only when all do', () => {
    const g = new Grants(rights({ calls: ['text.*', 'files.read'] }));
    expect(g.allows('calls', 'files.read')).toBe(true);
    expect(g.allows('calls', 'text.count')).toBe(true);
    expect(g.allows('calls', 'files.write')).toBe(false);
    expect(new Grants(rights({})).allows('calls', 'anything')).toBe(false);
  });

  it('answers stay right past the cache bound (more than 512 subjects asked)', () => {
    const g = new Grants(rights({ calls: ['ok.*'] }));
    for (let i = 0; i < 1200; i++) {
      expect(g.allows('calls', `ok.m${i}`)).toBe(true);
      expect(g.allows('calls', `no.m${i}`)).toBe(false);
    }
    expect(g.allows('calls', 'ok.m0')).toBe(true);
    expect(g.allows('calls', 'no.m0')).toBe(false);
  });

  it('full rights are the one shared ALL_GRANTS (flagged all); any other rights are checked', () => {
    expect(grantsFor(undefined)).toBe(ALL_GRANTS);
    expect(grantsFor(ALL_RIGHTS)).toBe(ALL_GRANTS);
    expect(ALL_GRANTS.all).toBe(true);
    const some = rights({ calls: ['a.b'] });
    const g = grantsFor(some);
    expect(g).not.toBe(ALL_GRANTS);
    expect(g.all).toBe(false);
    expect(g.rights).toBe(some);
    expect(g.allows('calls', 'a.c')).toBe(false);
    // A copy of full rights is not ALL_RIGHTS, but its patterns still allow everything.
    const copy = grantsFor({ ...ALL_RIGHTS });
    expect(['provides', 'calls', 'publishes', 'subscribes'].map((k) => copy.allows(k as keyof Rights, 'any.subject'))).toEqual([true, true, true, true]);
  });

  it('a local endpoint with no rights given may call, serve, publish and subscribe anything', async () => {
    const bus = new Bus();
    const free = bus.endpoint('free');
    free.handle('free.serve', () => 'served');
    expect(await free.request('free.serve')).toBe('served');
    expect(() => free.publish('any.topic', 1)).not.toThrow();
    expect(() => free.subscribe('>', () => {})).not.toThrow();
    await bus.stop();
  });

  it('a local endpoint whose rights are a copy of full rights is checked, and allowed', async () => {
    const bus = new Bus();
    const copy = bus.endpoint('copy', { ...ALL_RIGHTS });
    copy.handle('copy.serve', () => 'served');
    expect(await copy.request('copy.serve')).toBe('served');
    const none = bus.endpoint('none', rights({}));
    const err = (await none.request('copy.serve').catch((e: unknown) => e)) as ForbiddenError;
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(err.message).toBe("'none' may not call 'copy.serve' (not in its manifest's calls)");
    await bus.stop();
  });
});

describe('tokens', () => {
  it('a token names its identity, with its rights; a wrong or revoked token names no one', () => {
    const tokens = new Tokens();
    const r = rights({ calls: ['x.*'] });
    const t = tokens.issue('ext', r);
    const id = tokens.authenticate(t)!;
    expect(id.name).toBe('ext');
    expect(id.operator).toBe(false);
    expect(id.grants.rights).toBe(r);
    expect(id.secret.toString()).toBe(t);
    expect(tokens.authenticate(`${t}x`)).toBeUndefined();
    expect(tokens.authenticate(t.slice(0, -1))).toBeUndefined();
    expect(tokens.authenticate('')).toBeUndefined();
    tokens.revoke(t);
    expect(tokens.authenticate(t)).toBeUndefined();
  });

  it('issued secrets are fresh 256-bit random values, unless one is given', () => {
    const tokens = new Tokens();
    const a = tokens.issue('a');
    const b = tokens.issue('a');
    expect(a).not.toBe(b);
    // 32 random bytes, base64url: 43 characters of [A-Za-z0-9_-].
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(tokens.issue('given', ALL_RIGHTS, { token: 'chosen-secret' })).toBe('chosen-secret');
    expect(tokens.authenticate('chosen-secret')!.name).toBe('given');
    // Both of a's tokens are live: a successor's token does not revoke its predecessor's.
    expect(tokens.authenticate(a)!.name).toBe('a');
    expect(tokens.authenticate(b)!.name).toBe('a');
  });

  it("the operator's token has full rights and is flagged; grantsOf never answers for it", () => {
    const tokens = new Tokens();
    const op = tokens.issue('operator', undefined, { operator: true });
    const id = tokens.authenticate(op)!;
    expect(id.operator).toBe(true);
    expect(id.grants).toBe(ALL_GRANTS);
    expect(tokens.grantsOf('operator')).toBeUndefined();
    const r = rights({ calls: ['y.*'] });
    tokens.issue('svc', r);
    expect(tokens.grantsOf('svc')!.rights).toBe(r);
    expect(tokens.grantsOf('nobody')).toBeUndefined();
    // A name held both by an operator token and an identity's: the identity's rights.
    tokens.issue('operator', r);
    expect(tokens.grantsOf('operator')!.rights).toBe(r);
  });
});
