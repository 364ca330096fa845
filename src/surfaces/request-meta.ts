import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Context } from '../core/context.js';
import { normalizeAddress, type TrustFn } from '../core/net/trust-proxy.js';
import type { ForwardingInfo } from '../upstream/forwarder/headers.js';
import type { ProxyTrace } from './observability/traceparent.js';

/**
 * What every request and upgrade carries besides its own headers: the
 * request id header, trace context and the forwarding facts about the peer.
 *
 * @example
 * ```ts
 * import { RequestMeta } from './request-meta.js';
 * declare const trust: ConstructorParameters<typeof RequestMeta>[0]['trust'];
 * declare const trace: Parameters<RequestMeta['stamp']>[2];
 * const meta = new RequestMeta({ idHeader: 'x-request-id', tracing: true, via: 'switchyard', trust });
 * meta.stamp(headers, ctx.requestId, trace);
 * ```
 */
export class RequestMeta {
  /** The request id header, lower case; `undefined` when ids are off. */
  readonly idHeader: string | undefined;
  /** W3C `traceparent` propagation is on. */
  readonly tracing: boolean;
  readonly #via: string | false;
  readonly #trust: TrustFn;

  constructor(settings: { idHeader: string | undefined; tracing: boolean; via: string | false; trust: TrustFn }) {
    this.idHeader = settings.idHeader;
    this.tracing = settings.tracing;
    this.#via = settings.via;
    this.#trust = settings.trust;
  }

  /** The effective authority, the peer, whether it is trusted, the scheme and `Via`, for the upstream's forwarding headers. */
  forwardingInfo(req: IncomingMessage, upgrade: boolean, authority: string): ForwardingInfo {
    const peer = normalizeAddress(req.socket.remoteAddress ?? '');
    return {
      authority,
      peer,
      trusted: this.#trust(peer, 0),
      proto: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
      via: this.#via,
      upgrade,
    };
  }

  /** Puts the request id and trace context on the upstream headers. */
  stamp(headers: Record<string, string | string[]>, id: string | undefined, trace: ProxyTrace | undefined): void {
    if (this.idHeader !== undefined) headers[this.idHeader] = id as string;
    if (trace) {
      headers.traceparent = trace.header;
      // W3C Trace Context: a new trace does not carry the old vendor state.
      if (!trace.continued && headers.tracestate !== undefined) delete headers.tracestate;
    }
  }

  /**
   * Returns the request id to the client (over any the backend echoed). Set on
   * the response's headers, not with res.setHeader, which would send Node's
   * writeHead down its slow path for every header.
   */
  tagResponse(ctx: Context): void {
    const response = ctx.response;
    const idHeader = this.idHeader;
    if (idHeader === undefined || !response) return;
    if (Object.isFrozen(response.headers)) response.headers = { ...response.headers, [idHeader]: ctx.requestId };
    else response.headers[idHeader] = ctx.requestId;
  }
}
