import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import type { ClientHttp2Stream } from 'node:http2';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { Backend } from '../../core/backend.js';
import type { Events } from '../../core/events.js';
import { onBodyOutcome } from '../../core/fault.js';
import { http2SessionsOf } from '../forwarder/http2-upstream.js';
import type { Pool } from '../pool/pool.js';
import type { ResolvedHealthCheckOptions } from './options.js';
import { type FailureDetector, PhiAccrualDetector } from './phi-accrual.js';
import { statusMatcher } from './status-set.js';

/** What the checker needs from the balancer. */
export interface HealthCheckerDeps {
  readonly pool: Pool;
  readonly events: Events;
  /** The balancer's clock, ms. */
  readonly now: () => number;
  /** Random source in [0, 1) for jitter. */
  readonly random: () => number;
  /** Told of every passing check (outlier detection ends an ejection, a breaker its wait). */
  readonly observers?: readonly CheckObserver[];
}

/**
 * Told of each passing active health check and when it started (balancer
 * clock, ms): evidence a backend works again, for the passive detectors that
 * took it out.
 *
 * @example
 * ```ts
 * import { type CheckObserver, HealthChecker } from './checker.js';
 * const log: CheckObserver = { checkPassed: (backend, startedAt) => console.log(backend.id, startedAt) };
 * new HealthChecker({ pool, events, now, random, observers: [log] });
 * ```
 */
export interface CheckObserver {
  checkPassed(backend: Backend, startedAt: number): void;
}

/** The outcome of one check. */
interface CheckResult {
  ok: boolean;
  status?: number;
  reason?: string;
}

/** One backend's checking state. */
class CheckState {
  readonly backend: Backend;
  timer: NodeJS.Timeout | undefined;
  /** The check in flight (an HTTP/1.1 request or an HTTP/2 probe). */
  request: { destroy(): void } | undefined;
  /** Consecutive passes and failures (HAProxy's rise and fall counters). */
  rise = 0;
  fall = 0;
  detector: FailureDetector | undefined;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const request = this.request;
    this.request = undefined;
    request?.destroy();
  }
}

const USER_AGENT = 'switchyard-health-check';

/** A health check over an HTTP/2 session: cancellable before its stream exists. */
class Http2Probe {
  destroyed = false;
  stream: ClientHttp2Stream | undefined;

  destroy(): void {
    this.destroyed = true;
    if (this.stream && !this.stream.destroyed) this.stream.close(0x8 /* NGHTTP2_CANCEL */);
  }
}

/**
 * Active health checks, HAProxy-style: each backend is probed on its own
 * jittered timer over its own connection pool (its keep-alive `agent`, so
 * in-memory and custom transports are checked the way traffic reaches them);
 * `unhealthyThreshold` consecutive failures take it out of rotation,
 * `healthyThreshold` consecutive passes bring it back through slow start.
 * An optional failure detector (phi-accrual) can take it out sooner.
 *
 * The next check is scheduled when one finishes, so checks of one backend
 * never overlap and a hanging backend is probed once per `interval + timeout`.
 *
 * @example
 * ```ts
 * import { HealthChecker } from './checker.js';
 * import { healthCheckSchema } from './options.js';
 * const checker = new HealthChecker({ pool, events, now: () => performance.now(), random: Math.random });
 * checker.configure(healthCheckSchema.parse({ path: '/ready', interval: '2s' }));
 * for (const backend of pool.all()) checker.add(backend);
 * // ...
 * checker.close();
 * ```
 */
export class HealthChecker {
  readonly #deps: HealthCheckerDeps;
  readonly #states = new Map<Backend, CheckState>();
  #settings: ResolvedHealthCheckOptions | false = false;
  #passes: (status: number) => boolean = () => false;
  #closed = false;
  /** Backends whose checks started in this tick (see {@link add}). */
  #batch = 0;

  constructor(deps: HealthCheckerDeps) {
    this.#deps = deps;
  }

  /** Current settings, or `false` when checks are off. */
  get settings(): ResolvedHealthCheckOptions | false {
    return this.#settings;
  }

  /**
   * Applies new settings (or turns checks off). Running checks restart with
   * the new settings; rise/fall counts and health states are kept. Turning
   * checks off returns every unhealthy backend to rotation.
   */
  configure(settings: ResolvedHealthCheckOptions | false): void {
    this.#settings = settings;
    for (const state of this.#states.values()) state.stop();
    if (settings === false) {
      for (const state of this.#states.values()) this.#markHealthy(state, 'health checks turned off');
      this.#states.clear();
      return;
    }
    this.#passes = statusMatcher(settings.expectedStatus);
    for (const backend of this.#deps.pool.all()) this.add(backend);
  }

  /** Starts checking `backend` (a no-op when checks are off or it is already checked). */
  add(backend: Backend): void {
    const settings = this.#settings;
    if (settings === false || this.#closed) return;
    let state = this.#states.get(backend);
    if (!state) {
      state = new CheckState(backend);
      this.#states.set(backend, state);
    }
    state.detector = this.#makeDetector(backend, settings);
    // The first check comes within `jitter` of an interval, so checks started together spread out;
    // the n-th backend started in the same tick (start-up, a batch of additions) gets a window of
    // n × jitter, up to the whole interval, so a thousand first checks do not all land within
    // `jitter` of each other and stay bunched for many rounds (HAProxy spreads its start-up checks
    // over the interval too). A backend added alone keeps the `jitter` window.
    if (this.#batch++ === 0)
      queueMicrotask(() => {
        this.#batch = 0;
      });
    const window = Math.min(1, settings.jitter * this.#batch) * settings.interval;
    this.#schedule(state, this.#deps.random() * window);
  }

  /** Stops checking `backend`. */
  remove(backend: Backend): void {
    const state = this.#states.get(backend);
    if (!state) return;
    state.stop();
    this.#states.delete(backend);
  }

  /** Stops every check; the checker does nothing afterwards. */
  close(): void {
    this.#closed = true;
    for (const state of this.#states.values()) state.stop();
    this.#states.clear();
  }

  #makeDetector(backend: Backend, settings: ResolvedHealthCheckOptions): FailureDetector | undefined {
    if (settings.detector) return settings.detector(backend.id);
    const phi = settings.phiAccrual;
    if (phi === false) return undefined;
    return new PhiAccrualDetector({
      threshold: phi.threshold,
      minStdDeviation: phi.minStdDeviation,
      acceptablePause: phi.acceptablePause ?? settings.interval,
      maxSampleSize: phi.maxSampleSize,
      firstHeartbeatEstimate: settings.interval,
    });
  }

  #schedule(state: CheckState, delay: number): void {
    if (state.timer) clearTimeout(state.timer);
    state.timer = setTimeout(() => this.#check(state), Math.max(0, delay));
    state.timer.unref?.();
  }

  /** Sends one check for `state` (from its timer). */
  #check(state: CheckState): void {
    state.timer = undefined;
    const settings = this.#settings;
    if (settings === false || this.#states.get(state.backend) !== state) return;
    const backend = state.backend;
    const url = backend.url;
    const base = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      accept: '*/*',
      ...settings.headers,
      host: settings.host ?? url.host,
    };
    const started = this.#deps.now();
    let done = false;
    let timeout: NodeJS.Timeout | undefined;
    let request: { destroy(): void } | undefined;
    const finish = (result: CheckResult) => {
      if (done) return;
      done = true;
      clearTimeout(timeout);
      if (state.request === request) state.request = undefined;
      // A check cut short by configure/remove/close reports nothing.
      if (this.#states.get(backend) !== state || this.#settings !== settings) return;
      this.#record(state, settings, result, started);
    };
    const failed = (error: NodeJS.ErrnoException) =>
      finish({ ok: false, reason: error.code ? `${error.code}: ${error.message}` : error.message });
    /** Judges a response by its status, then by its body being whole. */
    const judge = (status: number, body: Readable) => {
      const ok = this.#passes(status);
      if (!ok) {
        body.on('error', () => {});
        body.resume();
        finish({ ok, status, reason: `status ${status}` });
        return;
      }
      // A passing status passes once its body is whole: a backend that breaks
      // its bodies off after the headers is not healthy. Draining also returns
      // the connection to the pool.
      onBodyOutcome(body, (outcome, error) => {
        if (outcome === 'complete') finish({ ok, status });
        else
          finish({
            ok: false,
            status,
            reason: `body broken off after status ${status}${error ? `: ${error.message}` : ''}`,
          });
      });
      body.resume();
    };
    const path = `${base}${settings.path}`;
    const h2 = http2SessionsOf(backend.agent);
    if (h2 !== undefined && !h2.http1) {
      // An HTTP/2 backend (a gRPC server may speak nothing else) is checked over its session.
      const probe = new Http2Probe();
      request = probe;
      h2.session().then((session) => {
        if (probe.destroyed || done) return;
        if (session === 'http/1.1') {
          finish({ ok: false, reason: 'the backend negotiated HTTP/1.1; the next check uses it' });
          return;
        }
        const { host, ...rest } = headers;
        const scheme = url.protocol === 'https:' ? 'https' : 'http';
        let stream: ClientHttp2Stream;
        try {
          stream = session.request({
            ':method': settings.method,
            ':path': path,
            ':scheme': scheme,
            ':authority': host,
            ...rest,
          });
        } catch (error) {
          failed(error as Error);
          return;
        }
        probe.stream = stream;
        stream.on('error', failed);
        stream.once('response', (responseHeaders) => judge(Number(responseHeaders[':status']) || 0, stream));
        stream.end();
      }, failed);
    } else {
      const send = url.protocol === 'https:' ? https.request : http.request;
      let sent: ClientRequest;
      try {
        sent = send({
          agent: backend.agent,
          protocol: url.protocol,
          hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
          port: url.port || undefined,
          method: settings.method,
          path,
          headers,
        });
      } catch (error) {
        // Never from validated options, but a throwing timer would take the process down.
        this.#record(state, settings, { ok: false, reason: (error as Error).message }, 0);
        return;
      }
      request = sent;
      sent.once('response', (res: IncomingMessage) => judge(res.statusCode ?? 0, res));
      sent.on('error', failed);
      sent.end();
    }
    state.request = request;
    const inFlight = request;
    timeout = setTimeout(() => {
      finish({ ok: false, reason: `no response within ${settings.timeout} ms` });
      inFlight.destroy();
    }, settings.timeout);
    timeout.unref?.();
  }

  #record(state: CheckState, settings: ResolvedHealthCheckOptions, result: CheckResult, started: number): void {
    const { backend } = state;
    const { events } = this.#deps;
    const now = this.#deps.now();
    const durationMs = now - started;
    events.emit('health:check', {
      backend: backend.id,
      ok: result.ok,
      ...(result.status === undefined ? {} : { status: result.status }),
      ...(result.reason === undefined ? {} : { reason: result.reason }),
      durationMs,
    });
    if (result.ok) {
      state.rise++;
      state.fall = 0;
      state.detector?.heartbeat(now);
      if (backend.unhealthy && state.rise >= settings.healthyThreshold) {
        this.#markHealthy(state, `${state.rise} consecutive passing checks`);
      }
      if (this.#deps.observers) for (const observer of this.#deps.observers) observer.checkPassed(backend, started);
    } else {
      state.fall++;
      state.rise = 0;
      if (!backend.unhealthy) {
        if (state.fall >= settings.unhealthyThreshold) {
          this.#markUnhealthy(state, `${state.fall} consecutive failed checks, last: ${result.reason}`);
        } else if (state.detector && !state.detector.isAvailable(now)) {
          const suspicion = state.detector.suspicion(now);
          this.#markUnhealthy(
            state,
            `failure detector suspects it (phi ${suspicion.toFixed(1)}), last: ${result.reason}`,
          );
        }
      }
    }
    const base = backend.unhealthy ? (settings.unhealthyInterval ?? settings.interval) : settings.interval;
    this.#schedule(state, base * (1 + settings.jitter * (2 * this.#deps.random() - 1)));
  }

  #markUnhealthy(state: CheckState, reason: string): void {
    const { backend } = state;
    this.#deps.pool.mark(backend, { unhealthy: true });
    // The silence while down is no evidence about the rhythm of a healthy backend.
    state.detector?.reset();
    this.#deps.events.emit('backend:unhealthy', { backend: backend.snapshot(), reason });
  }

  #markHealthy(state: CheckState, reason: string): void {
    const { backend } = state;
    if (!backend.unhealthy) return;
    backend.warmingSince = this.#deps.now();
    this.#deps.pool.mark(backend, { unhealthy: false });
    this.#deps.events.emit('backend:healthy', { backend: backend.snapshot(), reason });
  }
}
