/** The built-in strategy names (kept equal to the library's STRATEGY_NAMES by a test). */
export const STRATEGY_NAMES = [
  'p2c',
  'round-robin',
  'weighted-round-robin',
  'random',
  'weighted-random',
  'least-connections',
  'least-response-time',
  'consistent-hash',
  'maglev',
] as const;

/** Run-time policies `PATCH /config` changes (besides `strategy`). */
export const POLICY_SECTIONS = [
  'healthCheck',
  'outlierDetection',
  'circuitBreaker',
  'retry',
  'rateLimit',
  'panicThreshold',
] as const;
