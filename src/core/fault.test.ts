import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { makeError } from './errors.js';
import { bodyFailure, classifyFailure, isIdleRace, onBodyOutcome } from './fault.js';
import { UpstreamError } from './upstream-error.js';

const reset = (reused: boolean) => new UpstreamError('ERR_UPSTREAM_RESET', 'reset', 'a', 'reset', reused);

describe('classifyFailure', () => {
  it('charges resets, refusals and timeouts to the backend', () => {
    expect(classifyFailure(reset(false))).toBe('backend');
    expect(classifyFailure(new UpstreamError('ERR_UPSTREAM_CONNECT', 'x', 'a', 'connect-failure', false))).toBe(
      'backend',
    );
    expect(classifyFailure(new UpstreamError('ERR_UPSTREAM_TIMEOUT', 'x', 'a', 'timeout', true))).toBe('backend');
  });

  it('charges a client that left to the client', () => {
    expect(classifyFailure(new UpstreamError('ERR_CLIENT_ABORTED', 'x', 'a', 'reset', false))).toBe('client');
    expect(classifyFailure(makeError('ERR_CLIENT_ABORTED', 'gone'))).toBe('client');
    expect(classifyFailure(new UpstreamError('ERR_BAD_REQUEST', 'x', 'a', 'reset', false))).toBe('client');
  });

  it('charges nobody for the idle-socket race, a lost hedge, an open breaker or a non-upstream error', () => {
    expect(isIdleRace(reset(true))).toBe(true);
    expect(classifyFailure(reset(true))).toBe('none');
    expect(classifyFailure(new UpstreamError('ERR_CANCELLED', 'x', 'a', 'reset', false))).toBe('none');
    expect(classifyFailure(new UpstreamError('ERR_BREAKER_OPEN', 'x', 'a', 'connect-failure', false))).toBe('none');
    expect(classifyFailure(new Error('a bug'))).toBe('none');
  });
});

describe('onBodyOutcome', () => {
  it('tells a complete body, one broken by an error and one abandoned apart', async () => {
    const seen: string[] = [];
    const complete = new PassThrough();
    onBodyOutcome(complete, (o) => seen.push(`complete:${o}`));
    complete.resume();
    complete.end('x');
    const failed = new PassThrough();
    onBodyOutcome(failed, (o, e) => seen.push(`failed:${o}:${e?.message}`));
    failed.destroy(new Error('aborted'));
    const abandoned = new PassThrough();
    onBodyOutcome(abandoned, (o) => seen.push(`abandoned:${o}`));
    abandoned.destroy();
    await new Promise((r) => setTimeout(r, 0));
    expect(seen.sort()).toEqual(['abandoned:abandoned', 'complete:complete', 'failed:failed:aborted']);
  });

  it('maps a broken body to an UpstreamError the backend is charged with', () => {
    const error = bodyFailure('b', Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    expect(error.code).toBe('ERR_UPSTREAM_RESET');
    expect(classifyFailure(error)).toBe('backend');
    expect(bodyFailure('b', Object.assign(new Error('bad'), { code: 'HPE_INVALID_CHUNK_SIZE' })).code).toBe(
      'ERR_UPSTREAM_PROTOCOL',
    );
  });
});
