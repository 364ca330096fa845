import { z } from 'zod';

const PATH = /^\/[\x21-\x7e]*$/;
const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const NAME = /^[\w.:-]{1,128}$/;

const pathString = z.string().max(2048).regex(PATH, { error: 'a path starting with "/" (visible ASCII, no spaces)' });

/** A host condition: `api.example.com` (exact) or `*.example.com` (any subdomain, one label or more). */
const hostString = z
  .string()
  .max(253)
  .transform((h) => h.toLowerCase().replace(/\.$/, ''))
  .pipe(z.string().regex(HOST, { error: 'a host name such as "api.example.com" or "*.example.com"' }));

const headerCondition = z.union([
  z.string().max(8192),
  z.literal(true),
  z.strictObject({
    /** The header value must match this regular expression (JavaScript syntax). */
    regex: z.string().max(1024),
  }),
]);

/** A pool name: letters, digits and `_ . : -`, at most 128 characters. */
export const poolNameSchema = z
  .string()
  .regex(NAME, { error: 'a name of letters, digits and _ . : - (at most 128 characters)' });

/** One routing rule. Conditions left out match everything. */
export const routeSchema = z
  .strictObject({
    /** Name shown in events, logs and the admin API. @default `routes[i]` */
    name: poolNameSchema.optional(),
    /**
     * Host condition, matched against the `Host` header (port dropped, case
     * ignored): an exact name or `*.example.com` for any subdomain. A list
     * matches any of its names. @default any host
     */
    host: z.union([hostString, z.array(hostString).min(1).max(1000)]).optional(),
    /** The normalised path is this path or below it on a segment boundary (`/api` matches `/api`, `/api/x`, not `/apix`). */
    prefix: pathString.optional(),
    /** The normalised path is exactly this one. */
    exact: pathString.optional(),
    /** A path pattern: `:name` matches one segment, a final `*` the rest (`/users/:id`, `/files/*`). */
    pattern: pathString.optional(),
    /** Methods this route takes (upper case). @default any method */
    methods: z
      .array(z.string().regex(/^[A-Z][A-Z0-9_-]{0,31}$/, { error: 'an upper-case method name such as "GET"' }))
      .min(1)
      .optional(),
    /** Header conditions, by lower-case name: an exact value, `true` (present), or `{ regex }`. @default none */
    headers: z
      .record(z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, { error: 'a lower-case header name' }), headerCondition)
      .optional(),
    /** The pool that serves the requests this route matches. */
    pool: poolNameSchema,
    /**
     * Path rewriting before the request goes upstream, for `prefix` and
     * `exact` routes: `stripPrefix: true` removes the matched prefix,
     * `replacePrefix: '/v2'` puts another in its place. @default none
     */
    rewrite: z
      .union([z.strictObject({ stripPrefix: z.literal(true) }), z.strictObject({ replacePrefix: pathString })])
      .optional(),
  })
  .check((ctx) => {
    const route = ctx.value;
    const kinds = [route.prefix, route.exact, route.pattern].filter((v) => v !== undefined).length;
    if (kinds > 1) {
      ctx.issues.push({
        code: 'custom',
        input: route.exact,
        path: ['exact'],
        message: 'only one of prefix, exact and pattern',
      });
    }
    if (route.rewrite && route.pattern !== undefined) {
      ctx.issues.push({
        code: 'custom',
        input: route.rewrite,
        path: ['rewrite'],
        message: 'no rewrite on a pattern route (use a prefix or exact route)',
      });
    }
    for (const [name, condition] of Object.entries(route.headers ?? {})) {
      if (typeof condition === 'object') {
        try {
          new RegExp(condition.regex);
        } catch {
          ctx.issues.push({
            code: 'custom',
            input: condition.regex,
            path: ['headers', name, 'regex'],
            message: 'a valid regular expression',
          });
        }
      }
    }
  });

/** One routing rule, as given to `createRouter` or `router.setRoutes`. */
export interface RouteOptions {
  /** Name shown in events, logs and the admin API: letters, digits and `_ . : -`, at most 128 characters. @default `routes[i]` */
  name?: string | undefined;
  /**
   * Host condition, matched against the `Host` header (port dropped, case
   * ignored): an exact name or `*.example.com` for any subdomain. A list
   * (1 to 1000) matches any of its names. @default any host
   */
  host?: string | string[] | undefined;
  /** The normalised path is this path or below it on a segment boundary (`/api` matches `/api`, `/api/x`, not `/apix`). @default none */
  prefix?: string | undefined;
  /** The normalised path is exactly this one. @default none */
  exact?: string | undefined;
  /** A path pattern: `:name` matches one segment, a final `*` the rest (`/users/:id`, `/files/*`). @default none */
  pattern?: string | undefined;
  /** Methods this route takes (upper case). @default any method */
  methods?: string[] | undefined;
  /** Header conditions, by lower-case name: an exact value, `true` (present), or `{ regex }`. @default none */
  headers?: Record<string, RouteHeaderCondition> | undefined;
  /** The pool that serves the requests this route matches. Required. */
  pool: string;
  /**
   * Path rewriting before the request goes upstream, for `prefix` and
   * `exact` routes: `stripPrefix: true` removes the matched prefix,
   * `replacePrefix: '/v2'` puts another in its place. @default none
   */
  rewrite?: { stripPrefix: true } | { replacePrefix: string } | undefined;
}

/**
 * A header condition of a route: an exact value, `true` (the header is
 * present), or `{ regex }` (the value matches this regular expression,
 * JavaScript syntax).
 */
export type RouteHeaderCondition = string | true | { regex: string };

/** A routing rule after validation: a {@link RouteOptions} with host names lower-cased and without a final dot. */
export type ResolvedRoute = RouteOptions;

/** The route list. */
export const routesSchema = z.array(routeSchema).max(100_000);
