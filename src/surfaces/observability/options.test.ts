import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { resolveOptions } from '../../options/options.js';

function configError(options: unknown): ConfigError {
  try {
    resolveOptions(options);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('no ConfigError');
}

const logger = { debug() {}, info() {}, warn() {}, error() {} };

describe('logging and tracing options', () => {
  it('default to silent logs at info, x-request-id and trace propagation', () => {
    const resolved = resolveOptions({});
    expect(resolved.logger).toBeUndefined();
    expect(resolved.logLevel).toBe('info');
    expect(resolved.requestId).toEqual({ header: 'x-request-id' });
    expect(resolved.tracing).toEqual({ propagate: true });
  });

  it('accept a logger, a level, a header (lower-cased) and false', () => {
    const resolved = resolveOptions({
      logger,
      logLevel: 'debug',
      requestId: { header: 'X-Correlation-Id' },
      tracing: false,
    });
    expect(resolved.logger).toBe(logger);
    expect(resolved.logLevel).toBe('debug');
    expect(resolved.requestId).toEqual({ header: 'x-correlation-id' });
    expect(resolved.tracing).toBe(false);
    expect(resolveOptions({ requestId: false }).requestId).toBe(false);
  });

  it.each([
    ['a logger without error()', { logger: { debug() {}, info() {}, warn() {} } }, 'logger'],
    ['console.log as a logger', { logger: console.log }, 'logger'],
    ['an unknown level', { logLevel: 'verbose' }, 'logLevel'],
    ['a header with a space', { requestId: { header: 'x request' } }, 'requestId.header'],
    ['a header HTTP already uses', { requestId: { header: 'Host' } }, 'requestId.header'],
    ['requestId true', { requestId: true }, 'requestId'],
    ['tracing with an unknown key', { tracing: { sample: 1 } }, 'tracing.sample'],
  ])('refuse %s', (_what, options, path) => {
    expect(configError(options).path).toBe(path);
  });
});
