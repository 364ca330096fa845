import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { compileTrust, resolveClientAddress } from './trust-proxy.js';

function req(remoteAddress: string, xff?: string): IncomingMessage {
  return {
    socket: { remoteAddress },
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  } as unknown as IncomingMessage;
}

describe('resolveClientAddress', () => {
  it('uses the socket peer and ignores X-Forwarded-For when nothing is trusted', () => {
    expect(resolveClientAddress(req('203.0.113.9', '1.1.1.1'), compileTrust(false))).toBe('203.0.113.9');
  });

  it('walks one hop for a hop count of 1', () => {
    expect(resolveClientAddress(req('10.0.0.2', '6.6.6.6, 1.1.1.1'), compileTrust(1))).toBe('1.1.1.1');
  });

  it('walks trusted CIDRs from the right and stops at the first untrusted hop', () => {
    const trust = compileTrust(['10.0.0.0/8', 'loopback']);
    expect(resolveClientAddress(req('::ffff:127.0.0.1', '6.6.6.6, 198.51.100.4, 10.1.2.3'), trust)).toBe(
      '198.51.100.4',
    );
  });

  it('does not let an untrusted peer choose its address', () => {
    const trust = compileTrust(['10.0.0.0/8']);
    expect(resolveClientAddress(req('198.51.100.4', '10.0.0.1'), trust)).toBe('198.51.100.4');
  });

  it('stops at an entry that is not an IP address', () => {
    expect(resolveClientAddress(req('10.0.0.2', '1.1.1.1, garbage'), compileTrust(true))).toBe('10.0.0.2');
  });

  it('does bounded work on a huge header', () => {
    const huge = Array.from({ length: 100_000 }, (_, i) => `10.0.${(i >> 8) & 255}.${i & 255}`).join(', ');
    expect(resolveClientAddress(req('10.0.0.2', huge), compileTrust(true))).toMatch(/^10\.0\./);
  });
});
