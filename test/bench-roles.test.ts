import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ask, childExit, startRole } from '../bench/common.ts';

const script = fileURLToPath(new URL('./fixtures/bench-role.ts', import.meta.url));
const started: Array<Awaited<ReturnType<typeof startRole>>['child']> = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill();
});

describe('bench role processes (bench/common.ts)', () => {
  it('rejects startRole when the role exits before its first message', async () => {
    await expect(startRole(script, ['exit'])).rejects.toThrow('exit process exited with code 3 before answering');
  });

  it("rejects ask with the child's error when the role fails after its start, instead of waiting for ever", async () => {
    const role = await startRole(script, ['late-crash']);
    started.push(role.child);
    expect(role.message).toEqual({ ready: true });
    expect(await ask(role.child, 'ping')).toEqual({ echo: 'ping' });
    await expect(ask(role.child, 'stop')).rejects.toThrow(
      /late-crash process failed: Error: ENOENT: no such file or directory, open '\/nonexistent-switchyard-dir/,
    );
    await childExit(role.child);
    expect(role.child.exitCode).toBe(1);
    // Asking a role that is gone rejects at once.
    await expect(ask(role.child, 'ping')).rejects.toThrow('late-crash process exited with code 1 before answering');
  });
});
