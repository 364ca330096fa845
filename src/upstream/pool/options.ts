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
export type UpstreamTlsOptions = z.input<typeof upstreamTlsSchema>;

/** One upstream server. */
export const backendOptionsSchema = z.strictObject({
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
});

/**
 * Options of one backend, as given to `createLoadBalancer` or `addBackend`.
 *
 * @useDeclaredType
 */
export type BackendOptions = z.input<typeof backendOptionsSchema>;

/** Fields `updateBackend` may change. */
export const backendUpdateSchema = z.strictObject({
  weight: z.number().finite().positive().max(1_000_000).optional(),
  maxConnections: z.union([positiveInt(), z.literal(Number.POSITIVE_INFINITY)]).optional(),
});

/**
 * Fields `updateBackend` may change.
 *
 * @useDeclaredType
 */
export type BackendUpdate = z.input<typeof backendUpdateSchema>;
