import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import { fn, positiveInt } from '../../core/zod.js';

const httpUrl = z.string().refine(
  (value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && !url.username && !url.password
    );
  },
  { error: 'an absolute http:// or https:// URL without credentials, e.g. "http://10.0.0.1:8080"' },
);

const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);

/** TLS settings for an `https:` backend. */
export const upstreamTlsSchema = z.strictObject({
  /** Trusted CA certificates (PEM), replacing Node's bundled list. @default Node's CA store */
  ca: z.union([pem, z.array(pem).min(1)]).optional(),
  /** A file of trusted CA certificates (PEM). */
  caFile: z.string().min(1).optional(),
  /** Client certificate chain (PEM), for backends that require mutual TLS. */
  cert: pem.optional(),
  /** A file holding the client certificate chain (PEM). */
  certFile: z.string().min(1).optional(),
  /** The client certificate's private key (PEM). */
  key: pem.optional(),
  /** A file holding the client certificate's private key (PEM). */
  keyFile: z.string().min(1).optional(),
  /** Passphrase of an encrypted key. */
  passphrase: z.string().optional(),
  /** Server name sent in SNI and checked against the certificate. @default the URL's host name */
  servername: z.string().min(1).max(253).optional(),
  /** Verify the backend's certificate; `false` only for tests. @default true */
  rejectUnauthorized: z.boolean().optional(),
});

/** TLS settings for an `https:` backend, as given. */
export interface UpstreamTlsOptions {
  /** Trusted CA certificates (PEM), one or a list, replacing Node's bundled list. @default Node's CA store */
  ca?: string | Buffer | (string | Buffer)[] | undefined;
  /** A file of trusted CA certificates (PEM), read when the backend is made. */
  caFile?: string | undefined;
  /** Client certificate chain (PEM), for backends that require mutual TLS. @default none */
  cert?: string | Buffer | undefined;
  /** A file holding the client certificate chain (PEM). */
  certFile?: string | undefined;
  /** The client certificate's private key (PEM). */
  key?: string | Buffer | undefined;
  /** A file holding the client certificate's private key (PEM). */
  keyFile?: string | undefined;
  /** Passphrase of an encrypted key. */
  passphrase?: string | undefined;
  /** Server name sent in SNI and checked against the certificate, at most 253 characters. @default the URL's host name */
  servername?: string | undefined;
  /** Verify the backend's certificate; `false` only for tests. @default true */
  rejectUnauthorized?: boolean | undefined;
}

/** One upstream server. */
export const backendOptionsSchema = z
  .strictObject({
    /** Stable id, unique within the balancer. @default the URL's host:port */
    id: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[\w.:@[\]-]+$/, { error: 'letters, digits and . _ - : @ [ ] (at most 128 characters)' })
      .optional(),
    /** Base URL of the backend; a path here is prefixed to every request path. */
    url: httpUrl,
    /** Relative weight for weighted strategies, a positive number. @default 1 */
    weight: z.number().finite().positive().max(1_000_000).optional(),
    /** Most requests in flight at once; beyond it the backend is not eligible. @default unlimited */
    maxConnections: positiveInt().optional(),
    /**
     * Opens a connection to this backend instead of TCP/TLS: for in-memory
     * backends (`switchyard/testing`) and custom transports.
     */
    createConnection: fn<(options: object) => Duplex>().optional(),
    /**
     * TLS to an `https:` backend: trusted CAs, a client certificate and the
     * SNI/verification name. PEM text (`ca`, `cert`, `key`) or files read when
     * the backend is made (`caFile`, `certFile`, `keyFile`). @default Node's CA store, no client certificate, the URL's host name
     */
    tls: upstreamTlsSchema.optional(),
    /**
     * How to talk to the backend: `'http/1.1'`; `'h2'`, HTTP/2 over TLS (ALPN
     * `h2`, an `https:` URL); `'h2c'`, HTTP/2 over cleartext with prior
     * knowledge (an `http:` URL, e.g. a gRPC server); `'auto'`, ALPN offering
     * both on an `https:` URL (HTTP/1.1 on `http:`). See docs/http2.md.
     * @default 'http/1.1'
     */
    protocol: z.enum(['http/1.1', 'h2', 'h2c', 'auto']).optional(),
  })
  .superRefine((value, check) => {
    const scheme = URL.canParse(value.url) ? new URL(value.url).protocol : undefined;
    if (value.protocol === 'h2' && scheme !== 'https:')
      check.addIssue({
        code: 'custom',
        path: ['protocol'],
        message: "'h2' needs an https:// url (use 'h2c' for cleartext)",
      });
    if (value.protocol === 'h2c' && scheme !== 'http:')
      check.addIssue({ code: 'custom', path: ['protocol'], message: "'h2c' needs an http:// url (use 'h2' over TLS)" });
  });

/**
 * Options of one backend, as given to `createLoadBalancer` or `addBackend`.
 */
export interface BackendOptions {
  /** Stable id, unique within the balancer: letters, digits and `. _ - : @ [ ]`, at most 128 characters. @default the URL's host:port */
  id?: string | undefined;
  /** Base URL of the backend (`http://` or `https://`, no credentials); a path here is prefixed to every request path. Required. */
  url: string;
  /** Relative weight for weighted strategies, a positive number up to 1 000 000. @default 1 */
  weight?: number | undefined;
  /** Most requests in flight at once, >= 1; beyond it the backend is not eligible. @default unlimited */
  maxConnections?: number | undefined;
  /** Opens a connection to this backend instead of TCP/TLS: for in-memory backends (`switchyard/testing`) and custom transports. @default TCP/TLS */
  createConnection?: ((options: object) => Duplex) | undefined;
  /** TLS to an `https:` backend. @default Node's CA store, no client certificate, the URL's host name */
  tls?: UpstreamTlsOptions | undefined;
  /**
   * How to talk to the backend: `'http/1.1'`; `'h2'`, HTTP/2 over TLS (an
   * `https:` URL); `'h2c'`, HTTP/2 over cleartext with prior knowledge (an
   * `http:` URL); `'auto'`, ALPN offering both on an `https:` URL. See docs/http2.md.
   * @default 'http/1.1'
   */
  protocol?: 'http/1.1' | 'h2' | 'h2c' | 'auto' | undefined;
}

/** Fields `updateBackend` may change. */
export const backendUpdateSchema = z.strictObject({
  /** New relative weight, a positive number up to 1 000 000. */
  weight: z.number().finite().positive().max(1_000_000).optional(),
  /** New limit of requests in flight, >= 1, or `Infinity` for none. */
  maxConnections: z.union([positiveInt(), z.literal(Number.POSITIVE_INFINITY)]).optional(),
});

/**
 * Fields `updateBackend` may change.
 */
export interface BackendUpdate {
  /** New relative weight, a positive number up to 1 000 000. @default unchanged */
  weight?: number | undefined;
  /** New limit of requests in flight, >= 1, or `Infinity` for none. @default unchanged */
  maxConnections?: number | undefined;
}
