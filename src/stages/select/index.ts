/**
 * The `select` stage: picks a backend for each attempt; always on, also for upgrades.
 *
 * @module
 */
import { defineStage } from '../deps.js';
import { select } from './middleware.js';

/**
 * The `select` stage. For upgrades it never queues: a handshake that finds
 * every backend at its limit is refused at once.
 */
export const selectStage = defineStage({
  name: 'select',
  section: undefined,
  upgrade: true,
  follows: ['strategy'],
  create(_options, deps) {
    const { pool, strategy, now, queue } = deps;
    return { middleware: select(pool, strategy, now, queue), upgrade: select(pool, strategy, now) };
  },
});
