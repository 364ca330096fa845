/**
 * Backends for unit-testing a load balancer setup: `switchyard/testing`.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * import { createMemoryBackend } from 'switchyard-lb/testing';
 *
 * const a = createMemoryBackend({ id: 'a' });
 * const lb = createLoadBalancer({ backends: [a.config] });
 * ```
 *
 * @module
 */
export type { LoopbackBackend, LoopbackBackendOptions } from './loopback-backend.js';
export { createLoopbackBackend } from './loopback-backend.js';
export type { ConnectFunction, MemoryConnectOptions } from './memory-agent.js';
export { MemoryAgent } from './memory-agent.js';
export type { MemoryBackend, MemoryBackendConfig } from './memory-backend.js';
export { createMemoryBackend } from './memory-backend.js';
export type { SocketEndpoint } from './memory-socket.js';
export { MemorySocket } from './memory-socket.js';
export type { BackendHandler, FailMode, RecordedRequest, TestBackend, TestBackendOptions } from './test-backend.js';
