import { describe, expect, it } from 'vitest';
import { readCookie, SessionStore, sessionCookie } from './session.js';

describe('SessionStore', () => {
  function store(maxSessions?: number) {
    let now = 0;
    const sessions = new SessionStore({
      idleMs: 1000,
      lifetimeMs: 5000,
      clock: () => now,
      ...(maxSessions === undefined ? {} : { maxSessions }),
    });
    return { sessions, advance: (ms: number) => (now += ms) };
  }

  it('finds a session by its cookie value only, with its own CSRF token', () => {
    const { sessions } = store();
    const one = sessions.create();
    const two = sessions.create();
    expect(sessions.get(one.id)?.csrfToken).toBe(one.session.csrfToken);
    expect(one.session.csrfToken).not.toBe(two.session.csrfToken);
    expect(sessions.get(one.session.csrfToken)).toBeUndefined();
    expect(sessions.get(undefined)).toBeUndefined();
    expect(sessions.get('x'.repeat(500))).toBeUndefined();
  });

  it('ends an idle session, and a busy one at its lifetime', () => {
    const { sessions, advance } = store();
    const idle = sessions.create();
    const busy = sessions.create();
    for (let i = 0; i < 5; i++) {
      advance(999);
      expect(sessions.get(busy.id)).toBeDefined();
    }
    expect(sessions.get(idle.id)).toBeUndefined();
    advance(10);
    expect(sessions.get(busy.id)).toBeUndefined();
  });

  it('ends the oldest session past the limit, and on logout', () => {
    const { sessions } = store(2);
    const first = sessions.create();
    const second = sessions.create();
    sessions.create();
    expect(sessions.get(first.id)).toBeUndefined();
    expect(sessions.get(second.id)).toBeDefined();
    sessions.delete(second.id);
    expect(sessions.get(second.id)).toBeUndefined();
    expect(sessions.size).toBe(1);
  });
});

describe('session cookies', () => {
  it('reads one cookie among several', () => {
    expect(readCookie('a=1; switchyard_session=abc; b=2', 'switchyard_session')).toBe('abc');
    expect(readCookie('switchyard_sessionx=1', 'switchyard_session')).toBeUndefined();
    expect(readCookie(undefined, 'switchyard_session')).toBeUndefined();
  });

  it('writes HttpOnly, SameSite=Strict, Secure on request', () => {
    expect(sessionCookie('v', { path: '/admin', secure: true, maxAgeS: 60 })).toBe(
      'switchyard_session=v; Path=/admin; Max-Age=60; HttpOnly; SameSite=Strict; Secure',
    );
  });
});
