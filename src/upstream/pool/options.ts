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
