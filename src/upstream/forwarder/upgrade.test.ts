import { describe, expect, it } from 'vitest';
import { tunnelFailure } from './upgrade.js';

const state = { clientGone: false, timedOut: false, connected: false, reused: false };
const coded = (code: string) => Object.assign(new Error(code), { code });

describe('tunnelFailure', () => {
  it('classifies a handshake timeout by whether the connection was made', () => {
    const timeout = new Error('no answer to the upgrade within 50 ms');
    const before = tunnelFailure('a', timeout, { ...state, timedOut: true }, 50);
    expect([before.code, before.status, before.reason]).toEqual([
      'ERR_UPSTREAM_CONNECT_TIMEOUT',
      504,
      'connect-failure',
    ]);
    const after = tunnelFailure('a', timeout, { ...state, timedOut: true, connected: true }, 50);
    expect([after.code, after.status, after.reason]).toEqual(['ERR_UPSTREAM_TIMEOUT', 504, 'timeout']);
  });

  it('reads a failure before the connection (TLS included) as a connect failure, after it as a reset', () => {
    expect(tunnelFailure('a', coded('ECONNREFUSED'), state, 50).code).toBe('ERR_UPSTREAM_CONNECT');
    expect(tunnelFailure('a', coded('DEPTH_ZERO_SELF_SIGNED_CERT'), state, 50).code).toBe('ERR_UPSTREAM_CONNECT');
    expect(tunnelFailure('a', coded('ECONNRESET'), { ...state, connected: true }, 50).code).toBe('ERR_UPSTREAM_RESET');
    expect(tunnelFailure('a', coded('HPE_INVALID_CONSTANT'), { ...state, connected: true }, 50).code).toBe(
      'ERR_UPSTREAM_PROTOCOL',
    );
    expect(tunnelFailure('a', coded('ERR_UPSTREAM_PROTOCOL'), { ...state, connected: true }, 50).code).toBe(
      'ERR_UPSTREAM_PROTOCOL',
    );
  });

  it('charges a client that left first to the client', () => {
    const gone = tunnelFailure('a', coded('ECONNRESET'), { ...state, clientGone: true, connected: true }, 50);
    expect(gone.code).toBe('ERR_CLIENT_ABORTED');
  });
});
