import type { Buffer } from 'node:buffer';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createLoadBalancer, type LoadBalancer } from '../balancer.js';
import { ConfigError } from '../core/errors.js';
import { parseOptions } from '../core/zod.js';
import {
  type ConfigurePatch,
  type LoadBalancerOptions,
  replacedSections,
  runtimeSections,
} from '../options/options.js';
import { createRouter, type Router } from '../router.js';
import { hardenServer, type ServerHardeningOptions, serverOptions } from '../surfaces/harden-server.js';
import type { Logger, LogLevel } from '../surfaces/observability/logger.js';
import { routesSchema } from '../surfaces/router/options.js';
import { backendOptionsSchema } from '../upstream/pool/options.js';
import { type AccessLog, createAccessLog } from './access-log.js';
import type { CliSettings, ConfigFile, ListenerSettings } from './config-file.js';
import { jsonLogger } from './json-logger.js';
import { ListenerTls, peerSubject } from './tls.js';

/** Where the server writes. */
export interface ServerIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** A bound listener, as reported. */
export interface BoundListener {
  readonly name: string;
  readonly protocol: 'http' | 'https';
  readonly host: string;
  readonly port: number;
}

/** The proxy running in this process. */
export interface ProxyInstance {
  readonly router: Router;
  /** The public listeners, bound. */
  listeners(): BoundListener[];
  /** The admin listener's port, if on. */
  readonly adminPort: number | undefined;
  /** The metrics listener's port, if on. */
  readonly metricsPort: number | undefined;
  /**
   * Applies a new configuration: listeners opened, closed or updated (TLS,
   * timeouts), pools added, removed, rebuilt or their backends changed,
   * routes replaced, the access log reopened. Everything is built and
   * validated first: on an error (a `ConfigError` naming the option) nothing
   * changed. In-flight requests finish on the pools they started on.
   */
  reload(next: ConfigFile): Promise<void>;
  /** Re-reads every listener's certificate files (SIGHUP without a config change). */
  reloadCertificates(): void;
  /**
   * Graceful stop: listeners stop accepting, idle keep-alive connections
   * close, in-flight requests finish (then their connections close), up to
   * `deadline` ms; then every connection is cut. Idempotent.
   */
  close(deadline?: number): Promise<void>;
}

function levelOf(log: CliSettings['log']): LogLevel | undefined {
  if (log === false) return undefined;
  if (log === true) return 'info';
  return typeof log === 'string' ? log : log.level;
}

/** The hardening settings of a listener, for `serverOptions()` and `hardenServer()`. */
function hardening(l: ListenerSettings): ServerHardeningOptions {
  return {
    headersTimeout: l.headersTimeout,
    requestTimeout: l.requestTimeout,
    keepAliveTimeout: l.keepAliveTimeout,
    connectionsCheckingInterval: l.connectionsCheckingInterval,
    maxHeaderSize: l.maxHeaderSize,
    maxConnections: l.maxConnections,
    maxRequestsPerSocket: l.maxRequestsPerSocket,
  };
}

/** Runs a hardening helper, naming the listener's option in its `ConfigError` (`server.x` → `listeners[i].x`). */
function asListener<T>(index: number, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof ConfigError && error.path.startsWith('server.')) {
      throw new ConfigError(`listeners[${index}].${error.path.slice('server.'.length)}`, error.value, error.expected);
    }
    throw error;
  }
}

function keyOf(l: ListenerSettings): string {
  const protocol = l.protocol ?? (l.tls ? 'https' : 'http');
  // Settings a server takes only when it is made: a change opens a new one.
  const auth = l.tls?.clientAuth ? (l.tls.clientAuth.required ? 'mtls' : 'mtls-optional') : '';
  return `${l.name ?? ''}|${protocol}|${l.host ?? '*'}|${l.port}|${l.maxHeaderSize}|${l.connectionsCheckingInterval}|${auth}|${String(l.http2 ?? false)}`;
}

/** A listener's server: `node:http`, `node:https`, or `node:http2` (`http2: true` or `'h2c'`). */
type FrontServer = http.Server | http2.Http2Server | http2.Http2SecureServer;

/**
 * The hardening that exists on an HTTP/2 server: `maxConnections`, and the
 * HTTP/1.1 settings for the HTTP/1.1 connections a TLS listener with
 * `allowHTTP1` serves. HTTP/2 sessions have no `headersTimeout`,
 * `requestTimeout`, `keepAliveTimeout` or `maxRequestsPerSocket`
 * (docs/http2.md); `maxHeaderSize` becomes the `maxHeaderListSize` setting.
 */
function hardenHttp2(server: http2.Http2Server | http2.Http2SecureServer, options: ServerHardeningOptions): void {
  // The same validation and values as an HTTP/1.1 listener's, read off a plain record.
  const probe = hardenServer({} as http.Server, options);
  const target = server as unknown as Record<string, unknown>;
  target.headersTimeout = probe.headersTimeout;
  target.requestTimeout = probe.requestTimeout;
  target.keepAliveTimeout = probe.keepAliveTimeout;
  target.maxRequestsPerSocket = probe.maxRequestsPerSocket;
  server.maxConnections = probe.maxConnections;
}

/** Open HTTP/2 sessions and raw sockets of an HTTP/2 server, for a graceful stop and the final cut. */
const http2State = new WeakMap<FrontServer, { sessions: Set<http2.ServerHttp2Session>; sockets: Set<Socket> }>();

function trackHttp2(server: http2.Http2Server | http2.Http2SecureServer, secure: boolean): void {
  const state = { sessions: new Set<http2.ServerHttp2Session>(), sockets: new Set<Socket>() };
  http2State.set(server, state);
  server.on('session', (session) => {
    state.sessions.add(session);
    session.once('close', () => state.sessions.delete(session));
  });
  server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => {
    state.sockets.add(socket);
    socket.once('close', () => state.sockets.delete(socket));
  });
}

/** Every connection cut now. */
function cutAll(server: FrontServer): void {
  const state = http2State.get(server);
  if (!state) {
    (server as http.Server).closeAllConnections();
    return;
  }
  for (const session of state.sessions) session.destroy();
  for (const socket of state.sockets) socket.destroy();
}

function listenOn(server: FrontServer, port: number, host: string | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function stop(server: FrontServer): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    const state = http2State.get(server);
    // HTTP/2: GOAWAY, the open streams finish, then the session closes.
    for (const session of state?.sessions ?? []) session.close();
    const idle = (server as Partial<http.Server>).closeIdleConnections;
    if (typeof idle === 'function') idle.call(server);
  });
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

interface Frontend {
  key: string;
  settings: ListenerSettings;
  index: number;
  server: FrontServer;
  tls: ListenerTls | undefined;
  closing: boolean;
}

/** The admin or metrics listener after a reload: the newly opened one, the current one with a new handler, or none. */
function swapSide(
  current: Side | undefined,
  opened: Side | undefined,
  handle: Side['handle'] | undefined,
): Side | undefined {
  const next = opened ?? current;
  if (opened && current) void stop(current.server);
  if (!next) return undefined;
  if (!handle) {
    void stop(next.server);
    return undefined;
  }
  next.handle = handle;
  return next;
}

interface Side {
  key: string;
  server: http.Server;
  handle: (req: IncomingMessage, res: ServerResponse) => void;
}

type BackendInput = NonNullable<LoadBalancerOptions['backends']>[number];

function backendId(b: BackendInput): string {
  if (b.id !== undefined) return b.id;
  return URL.canParse(b.url) ? new URL(b.url).host : b.url;
}

/**
 * Plans an in-place change of a pool whose options differ only in
 * `backends` (added, removed, re-weighted) and in sections `configure()`
 * changes at run time (health checks, outlier detection, breakers, panic
 * threshold, strategy, retry, rate limits): the function applying it, or
 * `undefined` when the pool must be rebuilt. Health, breaker and outlier
 * state survive an in-place change.
 */
function backendPlan(
  lb: LoadBalancer,
  before: LoadBalancerOptions,
  after: LoadBalancerOptions,
  at: (path: string) => string,
): (() => void) | undefined {
  const { backends: oldList = [], ...oldRest } = before;
  const { backends: newList = [], ...newRest } = after;
  const patch = sectionPatch(lb, oldRest, newRest, at);
  if (!patch) return undefined;
  const old = new Map(oldList.map((b) => [backendId(b), b]));
  const next = new Map<string, BackendInput>();
  newList.forEach((b, i) => {
    parseOptions(backendOptionsSchema, b, at(`backends[${i}]`));
    const id = backendId(b);
    if (next.has(id)) throw new ConfigError(at(`backends[${i}].id`), id, 'an id no other backend uses');
    next.set(id, b);
  });
  const steps: (() => void)[] = [];
  for (const [id, b] of next) {
    const was = old.get(id);
    if (!was) {
      steps.push(() => lb.addBackend(b));
      continue;
    }
    const { weight: w1, maxConnections: m1, ...r1 } = was;
    const { weight: w2, maxConnections: m2, ...r2 } = b;
    // Another URL or TLS under the same id: the id stays taken while it drains, so rebuild.
    if (!same(r1, r2)) return undefined;
    if (w1 !== w2 || m1 !== m2) {
      steps.push(() => lb.updateBackend(id, { weight: w2 ?? 1, maxConnections: m2 ?? Number.POSITIVE_INFINITY }));
    }
  }
  for (const id of old.keys()) {
    if (!next.has(id)) steps.push(() => void lb.removeBackend(id, { drain: true }).catch(() => {}));
  }
  return () => {
    // Validated above: configure() refuses nothing here, and comes first so new backends get the new policies.
    if (Object.keys(patch).length > 0) lb.configure(patch);
    for (const step of steps) step();
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The `configure()` patch turning a pool's options `before` into `after`
 * (backends aside), validated now; `undefined` when the change needs a new
 * balancer: an option `configure()` cannot change, a section removed (its
 * default is not a patch), or a merged section that lost a key (a merge
 * would keep it).
 */
function sectionPatch(
  lb: LoadBalancer,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  at: (path: string) => string,
): ConfigurePatch | undefined {
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was = before[key];
    const now = after[key];
    if (same(was, now)) continue;
    if (!Object.hasOwn(runtimeSections, key) || now === undefined) return undefined;
    const replaced = (replacedSections as readonly string[]).includes(key);
    if (!replaced && isObject(was) && isObject(now) && Object.keys(was).some((k) => !(k in now))) return undefined;
    const input = !replaced && isObject(was) && isObject(now) ? { ...was, ...now } : now;
    parseOptions(runtimeSections[key as keyof typeof runtimeSections], input, at(key));
    patch[key] = now;
  }
  if (patch.retry === false && lb.config.hedge !== false) {
    throw new ConfigError(at('retry'), false, 'retry options while hedge is on (hedges are retries)');
  }
  return patch as ConfigurePatch;
}

/**
 * Starts the proxy of a config file in this process: the router over its
 * pools, every listener, the admin and metrics listeners, the access log.
 * Throws `ConfigError` for a bad option (nothing stays open), or the
 * listen error (`EADDRINUSE`...).
 *
 * @example
 * ```ts
 * import { startProxy } from './server.js';
 * import { parseConfigFile } from './config-file.js';
 * const proxy = await startProxy(parseConfigFile(text, process.env), { stdout: process.stdout, stderr: process.stderr });
 * process.on('SIGTERM', () => proxy.close(30_000).then(() => process.exit(0)));
 * ```
 */
export async function startProxy(
  initial: ConfigFile,
  io: ServerIo,
  options: { worker?: number; listen?: boolean } = {},
): Promise<ProxyInstance> {
  let config = initial;
  let level = levelOf(config.cli.log);
  let logger: Logger | undefined = level ? jsonLogger((line) => io.stdout.write(line), level) : undefined;

  function buildPool(name: string, poolOptions: LoadBalancerOptions, file: ConfigFile): LoadBalancer {
    // The access log is the per-request record: the balancer's own request lines go to `debug`.
    const withLogger = logger ? { logLevel: 'debug' as const, ...poolOptions, logger } : poolOptions;
    try {
      return createLoadBalancer(withLogger);
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new ConfigError(file.poolPath(name, error.path), error.value, error.expected);
      }
      throw error;
    }
  }

  const built: Record<string, LoadBalancer> = {};
  let router: Router;
  try {
    for (const [name, poolOptions] of Object.entries(config.pools)) built[name] = buildPool(name, poolOptions, config);
    router = createRouter({ pools: built, routes: config.routes });
  } catch (error) {
    await Promise.all(Object.values(built).map((lb) => lb.close()));
    throw error;
  }

  let accessLog: AccessLog | undefined = createAccessLog(config.cli.accessLog, options.worker, io.stdout, io.stderr);
  router.on('request', (entry) => accessLog?.write(entry));
  const frontends = new Map<string, Frontend>();
  let admin: Side | undefined;
  let metrics: Side | undefined;
  let closing: Promise<void> | undefined;

  const warn = (msg: string, fields: object = {}) => {
    if (logger) logger.warn(fields, msg);
    else io.stderr.write(`switchyard: ${msg}\n`);
  };
  // Operator-facing facts (reloads) are written whatever the log level, as the listening line is.
  const notice = (msg: string, fields: object = {}) => {
    io.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg, ...fields })}\n`);
  };

  /** The client may not claim a subject: only a verified certificate sets the header. */
  function stampSubject(front: Frontend, req: IncomingMessage): void {
    const header = front.tls?.subjectHeader;
    if (header === undefined) return;
    const raw = req.rawHeaders;
    const kept: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      if ((raw[i] as string).toLowerCase() !== header) kept.push(raw[i] as string, raw[i + 1] as string);
    }
    delete req.headers[header];
    const subject = peerSubject(req.socket as TLSSocket);
    if (subject !== undefined) {
      kept.push(header, subject);
      req.headers[header] = subject;
    }
    // An HTTP/2 request's rawHeaders is a getter: define it on the request.
    Object.defineProperty(req, 'rawHeaders', { value: kept, writable: true, configurable: true, enumerable: true });
  }

  function requestHandler(front: Frontend) {
    return (req: IncomingMessage, res: ServerResponse) => {
      // While shutting down, a finished exchange closes its connection.
      if (front.closing) res.shouldKeepAlive = false;
      stampSubject(front, req);
      router.handler(req, res).catch(() => res.destroy());
    };
  }

  function createFrontServer(l: ListenerSettings, base: http.ServerOptions, tls: ListenerTls | undefined): FrontServer {
    if (l.http2 === undefined || l.http2 === false) {
      return tls ? https.createServer({ ...base, ...tls.serverOptions() }) : http.createServer(base);
    }
    // Advertised so that browsers open WebSockets on the connection (RFC 8441 extended CONNECT).
    const settings = { maxHeaderListSize: base.maxHeaderSize ?? 16_384, enableConnectProtocol: true };
    const server = tls
      ? http2.createSecureServer({
          ...tls.serverOptions(),
          allowHTTP1: true,
          ALPNProtocols: ['h2', 'http/1.1'],
          settings,
          maxHeaderSize: base.maxHeaderSize,
        } as http2.SecureServerOptions)
      : http2.createServer({ settings });
    trackHttp2(server, tls !== undefined);
    return server;
  }

  function applyHardening(server: FrontServer, l: ListenerSettings, index: number): void {
    asListener(index, () => {
      if (http2State.has(server)) hardenHttp2(server as http2.Http2Server, hardening(l));
      else hardenServer(server as http.Server, hardening(l));
    });
  }

  async function openFrontend(l: ListenerSettings, index: number): Promise<Frontend> {
    const protocol = l.protocol ?? (l.tls ? 'https' : 'http');
    const tls = protocol === 'https' && l.tls ? new ListenerTls(l.tls, `listeners[${index}].tls`) : undefined;
    const front: Frontend = { key: keyOf(l), settings: l, index, server: undefined as never, tls, closing: false };
    const base = asListener(index, () => serverOptions(hardening(l)));
    const server = createFrontServer(l, base, tls);
    front.server = server;
    applyHardening(server, l, index);
    const onRequest = requestHandler(front);
    (server as http.Server).on('request', onRequest);
    (server as http.Server).on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      stampSubject(front, req);
      router.upgrade(req, socket, head);
    });
    if (http2State.has(server)) {
      // Node hands CONNECT streams (WebSockets over HTTP/2) to 'connect', not to 'request'.
      // On an allowHTTP1 listener an HTTP/1.1 CONNECT arrives there too, with its socket: refused with 501.
      const onConnect: Router['connect'] = (req, res, head) => {
        stampSubject(front, req as IncomingMessage);
        router.connect(req, res, head);
      };
      (server as http2.Http2Server).on('connect', onConnect);
    }
    // Malformed requests get Node's own answer (400, 431 for an oversized head) and the socket closes.
    if (tls) {
      (server as https.Server).on('tlsClientError', () => {});
      tls.watch(
        server as https.Server,
        (error) => warn(`certificate reload failed, keeping the current certificates: ${(error as Error).message}`),
        () => notice('certificates reloaded', { listener: l.name ?? `${protocol}:${l.port}` }),
      );
    }
    if (options.listen !== false) {
      try {
        await listenOn(server, l.port, l.host);
      } catch (error) {
        tls?.unwatch();
        throw error;
      }
    }
    return front;
  }

  async function openSide(port: number, host: string, handle: Side['handle']): Promise<Side> {
    // The hardening defaults (docs/security.md) apply to the admin and metrics listeners too.
    const side: Side = {
      key: `${host}|${port}`,
      server: hardenServer(http.createServer(serverOptions(), (req, res) => side.handle(req, res))),
      handle,
    };
    if (options.listen !== false) await listenOn(side.server, port, host);
    return side;
  }

  function adminHandler(file: ConfigFile): Side['handle'] | undefined {
    const a = file.cli.admin;
    if (!a) return undefined;
    const handle = router.admin({
      token: a.token,
      ...(a.maxBodyBytes === undefined ? {} : { maxBodyBytes: a.maxBodyBytes }),
      ...(a.dashboard === undefined ? {} : { dashboard: a.dashboard }),
    });
    return (req, res) => void handle(req, res);
  }

  function metricsHandler(file: ConfigFile): Side['handle'] | undefined {
    const m = file.cli.metrics;
    if (!m) return undefined;
    const token = m.token === undefined ? undefined : `Bearer ${m.token}`;
    return (req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      if ((q === -1 ? url : url.slice(0, q)) !== m.path) {
        res.writeHead(404, { 'content-length': 0 }).end();
        return;
      }
      if (token !== undefined && req.headers.authorization !== token) {
        res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-length': 0 }).end();
        return;
      }
      void router.metricsHandler(req, res);
    };
  }

  async function closeAll(): Promise<void> {
    for (const f of frontends.values()) f.tls?.unwatch();
    await Promise.all([...frontends.values()].map((f) => stop(f.server)));
    if (admin) await stop(admin.server);
    if (metrics) await stop(metrics.server);
  }

  try {
    for (const [i, l] of config.cli.listeners.entries()) {
      const front = await openFrontend(l, i);
      if (frontends.has(front.key))
        throw new ConfigError(`listeners[${i}].port`, l.port, 'an address no other listener uses');
      frontends.set(front.key, front);
    }
    const adminHandle = adminHandler(config);
    if (adminHandle && config.cli.admin)
      admin = await openSide(config.cli.admin.port, config.cli.admin.host, adminHandle);
    const metricsHandle = metricsHandler(config);
    if (metricsHandle && config.cli.metrics)
      metrics = await openSide(config.cli.metrics.port, config.cli.metrics.host, metricsHandle);
  } catch (error) {
    await closeAll();
    await router.close();
    await accessLog?.close();
    throw error;
  }

  function bound(server: http.Server): number {
    const address = server.address() as AddressInfo | null;
    return address?.port ?? 0;
  }

  async function reload(next: ConfigFile): Promise<void> {
    if (closing) return;
    // Phase 1: build and check everything; nothing the running proxy uses changes.
    const fresh = new Map<string, LoadBalancer>();
    const plans: (() => void)[] = [];
    const opened: Frontend[] = [];
    const kept = new Map<string, ListenerSettings & { index: number }>();
    let newAdmin: Side | undefined;
    let newMetrics: Side | undefined;
    let nextAdmin: Side['handle'] | undefined;
    let nextMetrics: Side['handle'] | undefined;
    const nextLevel = levelOf(next.cli.log);
    const previousLogging = { level, logger };
    if (nextLevel !== level) {
      level = nextLevel;
      logger = level ? jsonLogger((line) => io.stdout.write(line), level) : undefined;
    }
    try {
      for (const [name, poolOptions] of Object.entries(next.pools)) {
        const before = config.pools[name];
        const lb = router.pool(name);
        if (before !== undefined && lb && same(before, poolOptions)) continue;
        const plan =
          before !== undefined && lb ? backendPlan(lb, before, poolOptions, (p) => next.poolPath(name, p)) : undefined;
        if (plan) plans.push(plan);
        else fresh.set(name, buildPool(name, poolOptions, next));
      }
      parseOptions(routesSchema, next.routes, 'routes');
      for (const [i, l] of next.cli.listeners.entries()) {
        const key = keyOf(l);
        const current = frontends.get(key);
        if (current) {
          if (kept.has(key)) throw new ConfigError(`listeners[${i}].port`, l.port, 'an address no other listener uses');
          kept.set(key, { ...l, index: i });
          asListener(i, () => serverOptions(hardening(l)));
          // Certificates are read now, so a bad file refuses the whole reload.
          if (current.tls && l.tls) new ListenerTls(l.tls, `listeners[${i}].tls`);
        }
      }
      // A listener whose address another one frees is opened in phase 2, after the old one closed.
      const freed = new Set(
        [...frontends.values()]
          .filter((f) => !kept.has(f.key))
          .map((f) => `${f.settings.host ?? '*'}|${f.settings.port}`),
      );
      for (const [i, l] of next.cli.listeners.entries()) {
        const key = keyOf(l);
        if (frontends.has(key) || freed.has(`${l.host ?? '*'}|${l.port}`)) continue;
        const front = await openFrontend(l, i);
        opened.push(front);
      }
      nextAdmin = adminHandler(next);
      nextMetrics = metricsHandler(next);
      const a = next.cli.admin;
      if (a && nextAdmin && (!admin || admin.key !== `${a.host}|${a.port}`))
        newAdmin = await openSide(a.port, a.host, nextAdmin);
      const m = next.cli.metrics;
      if (m && nextMetrics && (!metrics || metrics.key !== `${m.host}|${m.port}`)) {
        newMetrics = await openSide(m.port, m.host, nextMetrics);
      }
    } catch (error) {
      ({ level, logger } = previousLogging);
      await Promise.all([...fresh.values()].map((lb) => lb.close()));
      for (const f of opened) f.tls?.unwatch();
      await Promise.all(opened.map((f) => stop(f.server)));
      if (newAdmin) await stop(newAdmin.server);
      if (newMetrics) await stop(newMetrics.server);
      throw error;
    }
    // Phase 2: apply. New pools first, so the new routes find them; removed pools last.
    for (const [name, lb] of fresh) {
      if (router.pool(name))
        router
          .replacePool(name, lb)
          .catch((error) => warn(`closing the previous pool ${name} failed: ${String(error)}`));
      else router.addPool(name, lb);
    }
    for (const plan of plans) plan();
    router.setRoutes(next.routes);
    for (const name of router.poolNames()) {
      if (!(name in next.pools))
        router.removePool(name).catch((error) => warn(`removing pool ${name} failed: ${String(error)}`));
    }
    for (const [key, front] of frontends) {
      const settings = kept.get(key);
      if (settings) {
        front.settings = settings;
        front.index = settings.index;
        applyHardening(front.server, settings, settings.index);
        if (front.tls && settings.tls) {
          front.tls.reload(front.server as https.Server, settings.tls);
          front.tls.watch(
            front.server as https.Server,
            (error) => warn(`certificate reload failed, keeping the current certificates: ${(error as Error).message}`),
            () => notice('certificates reloaded', { listener: settings.name ?? `https:${settings.port}` }),
          );
        }
        continue;
      }
      frontends.delete(key);
      front.closing = true;
      front.tls?.unwatch();
      // It stops accepting now; its connections close once their requests finish.
      void stop(front.server);
    }
    for (const front of opened) frontends.set(front.key, front);
    // Listeners on an address an old one held (new connections are refused meanwhile).
    for (const [i, l] of next.cli.listeners.entries()) {
      const key = keyOf(l);
      if (frontends.has(key)) continue;
      // The address was just released by a closing listener: the kernel may need a moment.
      for (let attempt = 1; ; attempt++) {
        try {
          frontends.set(key, await openFrontend(l, i));
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 20) {
            warn(`cannot listen on ${l.host ?? '*'}:${l.port}: ${(error as Error).message}`);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
    admin = swapSide(admin, newAdmin, nextAdmin);
    metrics = swapSide(metrics, newMetrics, nextMetrics);
    if (!same(next.cli.accessLog, config.cli.accessLog)) {
      const previous = accessLog;
      accessLog = createAccessLog(next.cli.accessLog, options.worker, io.stdout, io.stderr);
      void previous?.close();
    }
    config = next;
  }

  const instance: ProxyInstance = {
    router,
    listeners: () =>
      [...frontends.values()].map((f) => {
        const address = f.server.address() as AddressInfo | null;
        return {
          name: f.settings.name ?? `${f.tls ? 'https' : 'http'}:${f.settings.port}`,
          protocol: f.tls ? 'https' : 'http',
          host: address?.address ?? f.settings.host ?? '',
          port: address?.port ?? f.settings.port,
        };
      }),
    get adminPort() {
      return admin ? bound(admin.server) : undefined;
    },
    get metricsPort() {
      return metrics ? bound(metrics.server) : undefined;
    },
    reload,
    reloadCertificates() {
      for (const f of frontends.values()) {
        if (!f.tls) continue;
        try {
          f.tls.reload(f.server as https.Server);
        } catch (error) {
          warn(`certificate reload failed, keeping the current certificates: ${(error as Error).message}`);
        }
      }
    },
    close(deadline = config.cli.shutdownTimeout) {
      closing ??= (async () => {
        for (const f of frontends.values()) f.closing = true;
        const stopped = closeAll();
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, deadline);
        });
        // In-flight requests finish; new ones on kept-alive sockets get 503 from the closing pools.
        await Promise.race([Promise.all([router.close(), stopped]), late]);
        clearTimeout(timer);
        for (const f of frontends.values()) cutAll(f.server);
        admin?.server.closeAllConnections();
        metrics?.server.closeAllConnections();
        await accessLog?.close();
      })();
      return closing;
    },
  };
  return instance;
}
