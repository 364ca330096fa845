/**
 * The one place switchyard reaches into http-proxy-3's internals. Pinned:
 * `http-proxy-3.test.ts` fails when the installed version or the internal
 * changes, so an upgrade is a conscious step.
 *
 * @module
 */
import type { ProxyServer } from 'http-proxy-3';

/** The http-proxy-3 version this file was written against. */
export const HTTP_PROXY_3_VERSION = '2.0.1';

type WithPasses = { webPasses: Array<{ name: string }> };

/**
 * Removes one of the proxy's web passes by name. http-proxy-3 exposes no
 * option to turn a pass off; its `webPasses` array is internal.
 *
 * @example
 * ```ts
 * import { dropWebPass } from './http-proxy-3.js';
 * declare const proxy: Parameters<typeof dropWebPass>[0];
 * // `deleteLength` drops Transfer-Encoding on DELETE/OPTIONS, changing the framing the backend reads.
 * dropWebPass(proxy, 'deleteLength');
 * ```
 */
export function dropWebPass(proxy: ProxyServer, name: string): void {
  const internal = proxy as unknown as WithPasses;
  internal.webPasses = internal.webPasses.filter((pass) => pass.name !== name);
}

/** The names of the proxy's web passes, in order (for the pinned test). */
export function webPassNames(proxy: ProxyServer): string[] {
  return (proxy as unknown as WithPasses).webPasses.map((pass) => pass.name);
}
