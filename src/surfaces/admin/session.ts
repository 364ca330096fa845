/**
 * @module
 * Dashboard sessions: a random id in an `HttpOnly; SameSite=Strict` cookie
 * (`Secure` over HTTPS), a CSRF token per session, an idle timeout and an
 * absolute lifetime. Only a SHA-256 digest of each id is held, so a memory
 * dump does not hand out live cookies.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Name of the dashboard's session cookie. */
export const SESSION_COOKIE = 'switchyard_session';

/** Options of a {@link SessionStore}; durations in milliseconds. */
export interface SessionStoreOptions {
  /** A session unused this long ends. */
  readonly idleMs: number;
  /** A session ends this long after login, used or not. */
  readonly lifetimeMs: number;
  /** Sessions held at most; a new login past it ends the oldest. @default 64 */
  readonly maxSessions?: number;
  /** Clock, milliseconds. @default Date.now */
  readonly clock?: () => number;
}

/** A live session as the handler sees it. */
export interface Session {
  /** Sent back in `X-CSRF-Token` with every mutation. */
  readonly csrfToken: string;
  /** When the session ends at the latest (clock milliseconds). */
  readonly expiresAt: number;
}

interface Entry {
  readonly csrfToken: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  lastSeen: number;
}

function digest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/**
 * Holds the dashboard's sessions in memory (they end with the process:
 * people log in again after a restart).
 *
 * @example
 * ```ts
 * import { SessionStore } from './session.js';
 * const sessions = new SessionStore({ idleMs: 30 * 60_000, lifetimeMs: 12 * 3600_000 });
 * const { id, session } = sessions.create();
 * sessions.get(id)?.csrfToken;
 * ```
 */
export class SessionStore {
  readonly #entries = new Map<string, Entry>();
  readonly #idleMs: number;
  readonly #lifetimeMs: number;
  readonly #max: number;
  readonly #clock: () => number;

  constructor(options: SessionStoreOptions) {
    this.#idleMs = options.idleMs;
    this.#lifetimeMs = options.lifetimeMs;
    this.#max = options.maxSessions ?? 64;
    this.#clock = options.clock ?? Date.now;
  }

  /** Starts a session: `id` goes in the cookie, never anywhere else. */
  create(): { id: string; session: Session } {
    const now = this.#clock();
    this.#sweep(now);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const entry: Entry = {
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      expiresAt: now + this.#lifetimeMs,
      lastSeen: now,
    };
    this.#entries.set(digest(id), entry);
    return { id, session: { csrfToken: entry.csrfToken, expiresAt: entry.expiresAt } };
  }

  /** The live session of a cookie value, which counts as use; `undefined` when unknown or expired. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined || id.length === 0 || id.length > 128) return undefined;
    const key = digest(id);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    const now = this.#clock();
    if (now >= entry.expiresAt || now - entry.lastSeen >= this.#idleMs) {
      this.#entries.delete(key);
      return undefined;
    }
    entry.lastSeen = now;
    return { csrfToken: entry.csrfToken, expiresAt: Math.min(entry.expiresAt, now + this.#idleMs) };
  }

  /** Ends a session (logout). */
  delete(id: string | undefined): void {
    if (id !== undefined) this.#entries.delete(digest(id));
  }

  /** Sessions held now (expired ones included until the next sweep). */
  get size(): number {
    return this.#entries.size;
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now >= entry.expiresAt || now - entry.lastSeen >= this.#idleMs) this.#entries.delete(key);
    }
  }
}

/**
 * The value of cookie `name` in a `Cookie` header, if present.
 *
 * @example
 * ```ts
 * import { SESSION_COOKIE, readCookie } from './session.js';
 * readCookie('a=1; switchyard_session=abc', SESSION_COOKIE); // 'abc'
 * ```
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * A `Set-Cookie` value for the session cookie (`HttpOnly; SameSite=Strict`,
 * `Secure` when asked); `maxAgeS` in seconds, `0` clears it.
 *
 * @example
 * ```ts
 * import { sessionCookie } from './session.js';
 * declare const id: string; // the session's id
 * res.setHeader('set-cookie', sessionCookie(id, { path: '/', secure: true, maxAgeS: 43_200 }));
 * ```
 */
export function sessionCookie(value: string, options: { path: string; secure: boolean; maxAgeS: number }): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeS))}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
