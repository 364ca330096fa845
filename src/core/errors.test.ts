import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, ERROR_STATUS, makeError, SwitchyardError } from './errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function documented(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const match of doc.matchAll(/^\|\s*`(ERR_[A-Z_]+)`\s*\|\s*([^|]*?)\s*\|/gm)) {
    rows.set(match[1] as string, (match[2] as string).trim());
  }
  return rows;
}

describe('error codes', () => {
  it('lists every code in docs/errors.md with its status, and nothing else', () => {
    const rows = documented();
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERROR_STATUS).sort());
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      expect(rows.get(code), code).toBe(status === undefined ? '—' : String(status));
    }
  });

  it('gives each error its code, mapped status and cause', () => {
    const cause = new Error('boom');
    const error = makeError('ERR_UPSTREAM_TIMEOUT', 'slow', cause);
    expect(error).toBeInstanceOf(SwitchyardError);
    expect(error.code).toBe('ERR_UPSTREAM_TIMEOUT');
    expect(error.status).toBe(504);
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toEqual({ error: { code: 'ERR_UPSTREAM_TIMEOUT', message: 'slow' } });
  });

  it('shows in the README and docs/errors.md the very error bodies a client gets', () => {
    const samples = [...`${readme}\n${doc}`.matchAll(/^\{ "error": \{ "code": .*\} \}$/gm)].map((m) => m[0]);
    expect(samples.length).toBeGreaterThanOrEqual(2);
    for (const sample of samples) {
      const body = JSON.parse(sample) as { error: { code: keyof typeof ERROR_STATUS; message: string } };
      // Whatever internal message the error carries, the client body is the one shown.
      const sent = makeError(body.error.code, 'backend a at 127.0.0.1:8080 failed').toClientJSON();
      if (body.error.code === 'ERR_NO_BACKEND')
        expect(body.error.message).toBe('no backend is available to take this request');
      else expect(body).toEqual(sent);
      expect(sample).not.toMatch(/\d+\.\d+\.\d+\.\d+/);
    }
  });

  it('names the path, the value and the expectation in a ConfigError', () => {
    const error = new ConfigError('backends[0].weight', -1, 'a positive number');
    expect(error.code).toBe('ERR_CONFIG');
    expect(error.message).toBe('Invalid option backends[0].weight: got -1, expected a positive number');
  });
});
