import { describe, expect, it } from 'vitest';
import type { BackendSnapshot } from '../../core/backend.js';
import { Events, type SwitchyardEvents } from '../../core/events.js';
import { type Logger, logTo } from './logger.js';

function recorder() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string | undefined }> = [];
  const make = (level: string) =>
    function (this: unknown, obj: object, msg?: string) {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  const logger: Logger = { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
  return { logger, lines };
}

const done: SwitchyardEvents['request'] = {
  method: 'GET',
  path: '/items',
  requestId: 'r1',
  traceId: 't1',
  backend: 'a',
  status: 200,
  durationMs: 12.3456789,
  attempts: 1,
};

const snapshot = { id: 'a', url: 'http://a/', status: 'healthy' } as unknown as BackendSnapshot;

describe('logTo', () => {
  it('logs one line per request with its fields at the configured level', () => {
    const events = new Events();
    const { logger, lines } = recorder();
    logTo(events, logger, 'debug');
    events.emit('request', done);
    expect(lines).toEqual([
      {
        level: 'debug',
        msg: 'request',
        obj: {
          requestId: 'r1',
          traceId: 't1',
          method: 'GET',
          path: '/items',
          backend: 'a',
          status: 200,
          durationMs: 12.346,
          attempts: 1,
          error: undefined,
        },
      },
    ]);
  });

  it('logs a 5xx at error and a request cut short at warn', () => {
    const events = new Events();
    const { logger, lines } = recorder();
    logTo(events, logger, 'info');
    events.emit('request', { ...done, status: 503, error: 'ERR_NO_BACKEND' });
    events.emit('request', { ...done, status: 499, error: 'ERR_CLIENT_ABORTED' });
    events.emit('request', { ...done, status: 404 });
    expect(lines.map((l) => l.level)).toEqual(['error', 'warn', 'info']);
    expect(lines[0]?.obj.error).toBe('ERR_NO_BACKEND');
  });

  it('logs lifecycle events with the backend id rather than its snapshot', () => {
    const events = new Events();
    const { logger, lines } = recorder();
    logTo(events, logger, 'info');
    events.emit('backend:unhealthy', { backend: snapshot, reason: 'timeout' });
    events.emit('breaker:open', { backend: 'a' });
    events.emit('backend:drained', { backend: snapshot, timedOut: true, abandoned: 2 });
    events.emit('redis', { state: 'ready' });
    expect(lines).toEqual([
      { level: 'warn', msg: 'backend unhealthy', obj: { backend: 'a', reason: 'timeout' } },
      { level: 'warn', msg: 'circuit breaker open', obj: { backend: 'a' } },
      { level: 'warn', msg: 'backend drained', obj: { backend: 'a', timedOut: true, abandoned: 2 } },
      { level: 'info', msg: 'redis connection', obj: { state: 'ready' } },
    ]);
  });

  it('calls the logger as a method, as pino needs', () => {
    const events = new Events();
    const seen: unknown[] = [];
    const logger = {
      name: 'mine',
      debug() {},
      info(this: { name: string }) {
        seen.push(this.name);
      },
      warn() {},
      error() {},
    };
    logTo(events, logger, 'info');
    events.emit('request', done);
    expect(seen).toEqual(['mine']);
  });

  it('stops logging when stopped', () => {
    const events = new Events();
    const { logger, lines } = recorder();
    const stop = logTo(events, logger, 'info');
    stop();
    events.emit('request', done);
    events.emit('breaker:open', { backend: 'a' });
    expect(lines).toHaveLength(0);
  });
});
