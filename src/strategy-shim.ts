import { ConfigError } from './errors.js';
import { roundRobin } from './strategies/round-robin.js';
export function createStrategy(option: unknown, _deps: unknown) {
  if (option !== 'round-robin' && option !== 'p2c') throw new ConfigError('strategy', option, 'a known strategy');
  return roundRobin();
}
