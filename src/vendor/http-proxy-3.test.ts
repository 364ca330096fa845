import { createRequire } from 'node:module';
import { createProxyServer } from 'http-proxy-3';
import { describe, expect, it } from 'vitest';
import { dropWebPass, HTTP_PROXY_3_VERSION, webPassNames } from './http-proxy-3.js';

const { version } = createRequire(import.meta.url)('http-proxy-3/package.json') as { version: string };

describe('http-proxy-3 internals (pinned)', () => {
  it('is the version src/vendor/http-proxy-3.ts was written against', () => {
    expect(version).toBe(HTTP_PROXY_3_VERSION);
  });

  it('keeps its web passes in an array of named functions, deleteLength among them', () => {
    const proxy = createProxyServer({});
    expect(webPassNames(proxy)).toContain('deleteLength');
    dropWebPass(proxy, 'deleteLength');
    expect(webPassNames(proxy)).not.toContain('deleteLength');
    expect(webPassNames(proxy).length).toBeGreaterThan(0);
  });
});
