import { Forwarder } from './forwarder.js';
import type { ResolvedTimeoutsOptions } from './options.js';
import { UndiciForwarder } from './undici-forwarder.js';
import type { ForwarderName, UpstreamForwarder } from './upstream-forwarder.js';

/**
 * The forwarder the `forwarder` option names.
 *
 * @example
 * ```ts
 * import { createForwarder } from './create-forwarder.js';
 * declare const timeouts: import('./options.js').ResolvedTimeoutsOptions;
 * const forwarder = createForwarder('undici', { timeouts, via: 'switchyard', now: Date.now });
 * ```
 */
export function createForwarder(
  name: ForwarderName,
  options: { timeouts: ResolvedTimeoutsOptions; via: string | false; now: () => number },
): UpstreamForwarder {
  return name === 'undici' ? new UndiciForwarder(options) : new Forwarder(options);
}
