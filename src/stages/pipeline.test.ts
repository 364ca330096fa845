import { describe, expect, it } from 'vitest';
import type { Middleware } from '../core/compose.js';
import type { Context } from '../core/context.js';
import { ConfigError } from '../core/errors.js';
import { buildPipeline } from './pipeline.js';

const mw =
  (log: string[], name: string): Middleware =>
  async (_ctx, next) => {
    log.push(name);
    await next();
  };

describe('buildPipeline', () => {
  it('leaves disabled stages out of the chain', () => {
    const log: string[] = [];
    const pipeline = buildPipeline(
      { select: { middleware: mw(log, 'select') }, forward: { middleware: mw(log, 'forward') } },
      [],
    );
    expect(pipeline.names).toEqual(['select', 'forward']);
  });

  it('inserts user middleware at the named point, before forward by default', async () => {
    const log: string[] = [];
    const pipeline = buildPipeline(
      { select: { middleware: mw(log, 'select') }, forward: { middleware: mw(log, 'forward') } },
      [
        { name: 'auth', before: 'cache', handle: mw(log, 'auth') },
        { name: 'tag', handle: mw(log, 'tag') },
        { name: 'after-select', after: 'select', handle: mw(log, 'after-select') },
      ],
    );
    expect(pipeline.names).toEqual(['auth', 'select', 'after-select', 'tag', 'forward']);
    await pipeline.run({} as Context);
    expect(log).toEqual(['auth', 'select', 'after-select', 'tag', 'forward']);
  });

  it('runs the bracket after retry once per attempt', async () => {
    const log: string[] = [];
    const pipeline = buildPipeline(
      {
        retry: {
          wrap: (bracket) =>
            async function retry(ctx) {
              await bracket(ctx);
              await bracket(ctx);
            },
        },
        select: { middleware: mw(log, 'select') },
        forward: { middleware: mw(log, 'forward') },
      },
      [{ name: 'outer', before: 'retry', handle: mw(log, 'outer') }],
    );
    expect(pipeline.names).toEqual(['outer', 'retry', 'select', 'forward']);
    await pipeline.run({} as Context);
    expect(log).toEqual(['outer', 'select', 'forward', 'select', 'forward']);
  });

  it('refuses a middleware with both before and after, or a taken name', () => {
    const handle: Middleware = async () => {};
    expect(() => buildPipeline({}, [{ name: 'x', before: 'select', after: 'select', handle }])).toThrow(ConfigError);
    expect(() => buildPipeline({}, [{ name: 'forward', handle }])).toThrow(/middleware\[0\]\.name/);
  });
});
