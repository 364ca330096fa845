import { describe, expect, it } from 'vitest';
import { chainEnded, compose, type Middleware, trustStage } from './compose.js';
import type { Context } from './context.js';
import { SwitchyardError } from './errors.js';

const ctx = {} as Context;
const named = (name: string, handle: Middleware) => ({ name, handle });

describe('compose', () => {
  it('runs middleware in order, onion style', async () => {
    const log: string[] = [];
    const run = compose([
      named('a', async (_c, next) => {
        log.push('a>');
        await next();
        log.push('<a');
      }),
      named('b', async (_c, next) => {
        log.push('b>');
        await next();
        log.push('<b');
      }),
    ]);
    await run(ctx, async () => {
      log.push('end');
    });
    expect(log).toEqual(['a>', 'b>', 'end', '<b', '<a']);
  });

  it('tells the end of the chain from a next() that runs more stages, trusted or not', async () => {
    const seen: Record<string, boolean> = {};
    const probe =
      (name: string): Middleware =>
      async (_c, next) => {
        const rest = next();
        seen[name] = chainEnded(rest);
        await rest;
      };
    await compose([named('first', trustStage(probe('first'))), named('last', trustStage(probe('last')))])(ctx);
    await compose([
      named('untrusted-first', probe('untrusted-first')),
      named('untrusted-last', probe('untrusted-last')),
    ])(ctx);
    // With a `last` handler the chain goes on after the final stage.
    await compose([named('before-last', trustStage(probe('before-last')))])(ctx, async () => {});
    expect(seen).toEqual({
      first: false,
      last: true,
      'untrusted-first': false,
      'untrusted-last': true,
      'before-last': false,
    });
  });

  it('rejects with ERR_NEXT_CALLED_TWICE when next() is called twice', async () => {
    const run = compose([
      named('twice', async (_c, next) => {
        await next();
        await next();
      }),
    ]);
    await expect(run(ctx)).rejects.toMatchObject({ code: 'ERR_NEXT_CALLED_TWICE' });
  });

  it('rejects with ERR_MIDDLEWARE naming a middleware that does not await next()', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const run = compose([
      named('forgetful', async (_c, next) => {
        void next();
      }),
      named('slow', async () => {
        await gate;
      }),
    ]);
    const result = run(ctx);
    await expect(result).rejects.toThrow(/'forgetful'/);
    await expect(result).rejects.toBeInstanceOf(SwitchyardError);
    release();
  });

  it('propagates a thrown error to the middleware above', async () => {
    const seen: unknown[] = [];
    const run = compose([
      named('catcher', async (_c, next) => {
        try {
          await next();
        } catch (error) {
          seen.push(error);
        }
      }),
      named('thrower', () => {
        throw new Error('sync throw');
      }),
    ]);
    await run(ctx);
    expect(seen).toHaveLength(1);
    expect((seen[0] as Error).message).toBe('sync throw');
  });

  it('lets a middleware end the chain by not calling next()', async () => {
    let reached = false;
    const run = compose([
      named('stop', async () => {}),
      named('never', async () => {
        reached = true;
      }),
    ]);
    await run(ctx);
    expect(reached).toBe(false);
  });

  it('still refuses a second next() from a trusted stage, and still guards a user middleware above one', async () => {
    const twice = compose([
      named(
        'stage',
        trustStage(async (_c, next) => {
          await next();
          await next();
        }),
      ),
    ]);
    await expect(twice(ctx)).rejects.toMatchObject({ code: 'ERR_NEXT_CALLED_TWICE' });

    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const forgetful = compose([
      named('forgetful', async (_c, next) => {
        void next();
      }),
      named(
        'stage',
        trustStage(async () => {
          await gate;
        }),
      ),
    ]);
    await expect(forgetful(ctx)).rejects.toMatchObject({ code: 'ERR_MIDDLEWARE' });
    release();
  });

  it('runs trusted stages in order and propagates their errors', async () => {
    const log: string[] = [];
    const run = compose([
      named(
        'a',
        trustStage(async (_c, next) => {
          log.push('a>');
          try {
            await next();
          } catch (error) {
            log.push(`caught ${(error as Error).message}`);
          }
        }),
      ),
      named(
        'b',
        trustStage(() => {
          throw new Error('sync throw');
        }),
      ),
    ]);
    await run(ctx);
    expect(log).toEqual(['a>', 'caught sync throw']);
  });
});
