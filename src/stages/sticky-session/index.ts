/**
 * The `sticky-session` stage: keeps a client on one backend, also for upgrades.
 *
 * @module
 */
import { defineStage } from '../deps.js';
import { checkStickyOptions, stickySchema } from './options.js';
import { createSessionStore, stickySession } from './sticky-session.js';

/** The `sticky-session` stage (off unless `sticky` is given). */
export const stickySessionStage = defineStage({
  name: 'sticky-session',
  section: { key: 'sticky', schema: stickySchema },
  upgrade: true,
  check: (options, env) => checkStickyOptions(options, env.redis),
  create(options, deps) {
    if (!options) return {};
    const store = createSessionStore(options, deps.redis, deps.now);
    const { events, trust, pool } = deps;
    return {
      middleware: stickySession(options, { backend: (id) => pool.get(id), events, trust, store }),
      close: () => store?.close(),
    };
  },
});
