/**
 * The dashboard's only way to the server: the admin JSON API, one level up
 * from the page (`<admin root>/dashboard/` → `<admin root>/…`), with the
 * session cookie and, on mutations, the session's CSRF token.
 */

/** An answer other than 2xx, carrying the API's error code and option path. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Option path the error is about (`weight`, `backends[0].url`...), when the API names one. */
  readonly path: string | undefined;

  constructor(status: number, code: string, message: string, path: string | undefined) {
    super(message);
    this.status = status;
    this.code = code;
    this.path = path;
  }
}

let csrfToken: string | undefined;
let onUnauthorized: (() => void) | undefined;

/** Remembers the session's CSRF token (kept in memory only, never in storage or a URL). */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when the session is gone (expired, logged out elsewhere, server restarted). */
export function whenUnauthorized(callback: () => void): void {
  onUnauthorized = callback;
}

/** Calls the admin API; resolves with the JSON body (`undefined` for 204), rejects with {@link ApiError}. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(new URL(`..${path}`, document.baseURI), {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'ERR_NETWORK', 'the admin API does not answer', undefined);
  }
  if (response.status === 204) return undefined as T;
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; path?: string } } | undefined)?.error;
    if (response.status === 401 && path !== '/session') onUnauthorized?.();
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `the admin API answered ${response.status}`,
      error?.path,
    );
  }
  return json as T;
}

/**
 * Which of `fields` an error belongs to: the deepest segment of its option
 * path that names one (`backends[0].url` → `url` if listed, else
 * `backends`), or `form` when none does.
 */
export function fieldOf(error: unknown, fields: readonly string[]): string {
  if (!(error instanceof ApiError) || error.path === undefined) return 'form';
  const segments = error.path.split(/[.[\]]+/).filter((s) => s !== '' && !/^\d+$/.test(s));
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i] as string;
    if (fields.includes(segment)) return segment;
  }
  return 'form';
}

/** A message for people. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
