/**
 * The `forward` stage: sends each attempt upstream; always on, last in the pipeline.
 *
 * @module
 */
import { defineStage } from '../deps.js';
import { forward } from './middleware.js';

/** The `forward` stage; it reports outcomes to the strategy and outlier detection in force when built. */
export const forwardStage = defineStage({
  name: 'forward',
  section: undefined,
  upgrade: false,
  follows: ['strategy', 'outlierDetection'],
  create(_options, deps) {
    const { forwarder, strategy, events, preserveHost, now, outliers } = deps;
    return {
      middleware: forward(forwarder, strategy, events, {
        preserveHost,
        now,
        observer: outliers.enabled ? outliers : undefined,
      }),
    };
  },
});
