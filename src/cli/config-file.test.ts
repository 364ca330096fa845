// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config files spell environment variables ${VAR}
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { ConfigFileError, errorLocation, interpolate, parseConfigFile, splitPath } from './config-file.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

describe('parseConfigFile', () => {
  it('keeps the short form: one pool named default with a catch-all route', () => {
    const config = parseConfigFile(
      'listen: { port: 81 }\nbackends: [{ url: "http://10.0.0.1" }]\nretry: { attempts: 3 }\n',
      {},
    );
    expect(config.short).toBe(true);
    expect(Object.keys(config.pools)).toEqual(['default']);
    expect(config.pools.default).toEqual({ backends: [{ url: 'http://10.0.0.1' }], retry: { attempts: 3 } });
    expect(config.routes).toEqual([{ pool: 'default' }]);
    expect(config.cli.listeners).toMatchObject([
      { port: 81, headersTimeout: 10_000, requestTimeout: 60_000, keepAliveTimeout: 5000, maxConnections: 10_000 },
    ]);
    expect(config.poolPath('default', 'backends[0].url')).toBe('backends[0].url');
  });

  it('splits pools and routes and names a balancer option left at the top level', () => {
    const config = parseConfigFile(
      'pools:\n  a: { backends: [] }\n  b: {}\nroutes:\n  - { prefix: /b, pool: b }\n  - { pool: a }\n',
      {},
    );
    expect(config.poolPath('a', 'retry')).toBe('pools.a.retry');
    const stray = thrown(() => parseConfigFile('pools:\n  a: {}\nretry: { attempts: 2 }\n', {})) as ConfigError;
    expect(stray.path).toBe('retry');
    expect(errorLocation(stray).location).toEqual({ line: 3, col: 8 });
  });

  it('requires routes with several pools and refuses a route to an unknown pool, with its line and column', () => {
    expect((thrown(() => parseConfigFile('pools: { a: {}, b: {} }\n', {})) as ConfigError).path).toBe('routes');
    const error = thrown(() => parseConfigFile('pools:\n  a: {}\nroutes:\n  - prefix: /x\n    pool: b\n', {}));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe('routes[0].pool');
    expect(errorLocation(error).location).toEqual({ line: 5, col: 11 });
  });

  it('points at an unknown key and a bad listener value', () => {
    const unknown = thrown(() => parseConfigFile('listeners:\n  - port: 80\n    hots: x\n', {}));
    expect((unknown as ConfigError).path).toBe('listeners[0].hots');
    expect(errorLocation(unknown).location?.line).toBe(3);
    const https = thrown(() => parseConfigFile('listeners:\n  - { port: 443, protocol: https }\n', {}));
    expect((https as ConfigError).path).toBe('listeners[0].tls');
    expect((thrown(() => parseConfigFile('listen: {}\nlisteners: [{}]\n', {})) as ConfigError).path).toBe('listen');
    expect((thrown(() => parseConfigFile('listeners:\n  - { headersTimeout: -1 }\n', {})) as ConfigError).path).toBe(
      'listeners[0].headersTimeout',
    );
  });

  it('applies environment overrides over the file and names the variable of a bad one', () => {
    const config = parseConfigFile('listen: { port: 80, host: 10.0.0.1 }\nworkers: 2\nbackends: []\n', {
      PORT: '8081',
      SWITCHYARD_HOST: '127.0.0.1',
      SWITCHYARD_WORKERS: 'auto',
      SWITCHYARD_ACCESS_LOG: '/tmp/a.log',
      SWITCHYARD_ADMIN_TOKEN: 'an-admin-token-from-the-environment',
    });
    expect(config.cli.listeners[0]).toMatchObject({ port: 8081, host: '127.0.0.1' });
    expect(config.cli.workers).toBe('auto');
    expect(config.cli.accessLog).toMatchObject({ to: '/tmp/a.log', format: 'json' });
    expect(config.cli.admin).toMatchObject({
      token: 'an-admin-token-from-the-environment',
      port: 9901,
      host: '127.0.0.1',
    });
    expect(parseConfigFile('backends: []\n', { PORT: '1', SWITCHYARD_PORT: '2' }).cli.listeners[0]?.port).toBe(2);
    const bad = thrown(() => parseConfigFile('backends: []\n', { SWITCHYARD_WORKERS: '0' }));
    expect((bad as ConfigError).path).toBe('workers');
    expect(errorLocation(bad)).toEqual({ env: 'SWITCHYARD_WORKERS' });
  });

  it('reports YAML syntax with line and column, and a file that is not a mapping', () => {
    const syntax = thrown(() => parseConfigFile('a: [\n', {})) as ConfigFileError;
    expect(syntax).toBeInstanceOf(ConfigFileError);
    expect(syntax.location?.line).toBeGreaterThan(0);
    expect(thrown(() => parseConfigFile('- 1\n', {}))).toBeInstanceOf(ConfigFileError);
  });
});

describe('interpolate', () => {
  it('types a value that is one variable alone', () => {
    expect(interpolate({ port: '${P}', on: '${B}', url: 'http://h:${P}' }, { P: '8080', B: 'true' })).toEqual({
      port: 8080,
      on: true,
      url: 'http://h:8080',
    });
  });
});

describe('splitPath', () => {
  it('splits dotted paths with indexes', () => {
    expect(splitPath('pools.api.backends[0].url')).toEqual(['pools', 'api', 'backends', 0, 'url']);
  });
});
