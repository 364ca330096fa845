import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../../src/index.js';
import { until } from '../helpers.js';
import { closeSession, connect, h2request, listenOn } from './client.js';

// gRPC through the balancer with @grpc/grpc-js on both ends (JSON messages, no .proto needed).
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Msg {
  text: string;
  n?: number;
}

const serialize = (value: Msg): Buffer => Buffer.from(JSON.stringify(value));
const deserialize = (bytes: Buffer): Msg => JSON.parse(bytes.toString()) as Msg;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: serialize,
  requestDeserialize: deserialize,
  responseSerialize: serialize,
  responseDeserialize: deserialize,
});
const SERVICE = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} as const;

interface Behaviour {
  /** Fail the next unary calls with this status (trailers-only), then answer. */
  failWith?: { code: grpc.status; times: number };
  /** Delay before a unary answer, ms. */
  delayMs?: number;
  /** End every server-streaming call with this status, in the trailers after its messages. */
  streamEndsWith?: grpc.status;
}

async function grpcBackend(id: string, behaviour: Behaviour = {}) {
  const server = new grpc.Server();
  const calls: string[] = [];
  /** Milliseconds of deadline each unary call had left when it arrived. */
  const deadlineLeft: number[] = [];
  server.addService(SERVICE as unknown as grpc.ServiceDefinition, {
    unary: (call: grpc.ServerUnaryCall<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) => {
      calls.push(`unary:${call.request.text}`);
      const deadline = call.getDeadline();
      if (deadline instanceof Date || typeof deadline === 'number') deadlineLeft.push(Number(deadline) - Date.now());
      const fail = behaviour.failWith;
      if (fail && fail.times > 0) {
        fail.times--;
        callback({ code: fail.code, details: `backend ${id} says no` });
        return;
      }
      const answer = () => callback(null, { text: `${id}:${call.request.text}` });
      if (behaviour.delayMs) setTimeout(answer, behaviour.delayMs);
      else answer();
    },
    serverStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      calls.push('serverStream');
      const n = call.request.n ?? 3;
      for (let i = 0; i < n; i++) call.write({ text: `${id}:${i}` });
      const code = behaviour.streamEndsWith;
      if (code !== undefined && code !== grpc.status.OK)
        call.emit('error', { code, details: `backend ${id} failed midway` });
      else call.end();
    },
    clientStream: (call: grpc.ServerReadableStream<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) => {
      calls.push('clientStream');
      const parts: string[] = [];
      call.on('data', (m: Msg) => parts.push(m.text));
      call.on('end', () => callback(null, { text: parts.join('+') }));
    },
    bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      calls.push('bidi');
      call.on('data', (m: Msg) => call.write({ text: `echo:${m.text}` }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  cleanup.push(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return { id, port, calls, deadlineLeft, config: { id, url: `http://127.0.0.1:${port}`, protocol: 'h2c' as const } };
}

async function front(
  options: LoadBalancerOptions,
): Promise<{ lb: LoadBalancer; client: grpc.Client; server: http2.Http2Server; openStreams: () => number }> {
  const lb = createLoadBalancer(options);
  const server = await listenOn(http2.createServer({}, lb.handler));
  let open = 0;
  server.on('stream', (stream) => {
    open++;
    stream.once('close', () => open--);
  });
  const Client = grpc.makeGenericClientConstructor(SERVICE as unknown as grpc.ServiceDefinition, 'Echo');
  const client = new Client(`127.0.0.1:${(server.address() as AddressInfo).port}`, grpc.credentials.createInsecure());
  cleanup.push(
    () => lb.close(),
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // grpc-js keeps its session open: the balancer's server closes only once it is gone.
        client.close();
      }),
  );
  return { lb, client, server, openStreams: () => open };
}

type Unary = (req: Msg, meta: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<Msg>) => void;

/** A server-streaming call: the messages it got, and how it ended (its status code, 0 for OK). */
function serverStream(client: grpc.Client, n: number): Promise<{ messages: string[]; code: number }> {
  return new Promise((resolve) => {
    const messages: string[] = [];
    const call = (client as unknown as { serverStream(m: Msg): grpc.ClientReadableStream<Msg> }).serverStream({
      text: 'x',
      n,
    });
    call.on('data', (m: Msg) => messages.push(m.text));
    call.on('error', (error: grpc.ServiceError) => resolve({ messages, code: error.code }));
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) resolve({ messages, code: 0 });
    });
  });
}

function unary(client: grpc.Client, text: string, options: grpc.CallOptions = {}): Promise<Msg> {
  return new Promise((resolve, reject) => {
    (client as unknown as { unary: Unary }).unary({ text }, new grpc.Metadata(), options, (error, value) =>
      error ? reject(error) : resolve(value as Msg),
    );
  });
}

describe('gRPC pass-through', () => {
  it('proxies unary, server-streaming, client-streaming and bidi calls end to end', async () => {
    const backend = await grpcBackend('a');
    const { client } = await front({ backends: [backend.config] });
    expect(await unary(client, 'hi')).toEqual({ text: 'a:hi' });

    const streamed = await new Promise<string[]>((resolve, reject) => {
      const out: string[] = [];
      const call = (client as unknown as { serverStream(m: Msg): grpc.ClientReadableStream<Msg> }).serverStream({
        text: 'x',
        n: 5,
      });
      call.on('data', (m: Msg) => out.push(m.text));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });
    expect(streamed).toEqual(['a:0', 'a:1', 'a:2', 'a:3', 'a:4']);

    const joined = await new Promise<Msg>((resolve, reject) => {
      const call = (
        client as unknown as { clientStream(cb: grpc.requestCallback<Msg>): grpc.ClientWritableStream<Msg> }
      ).clientStream((error, value) => (error ? reject(error) : resolve(value as Msg)));
      for (const text of ['p', 'q', 'r']) call.write({ text });
      call.end();
    });
    expect(joined).toEqual({ text: 'p+q+r' });

    const echoed = await new Promise<string[]>((resolve, reject) => {
      const out: string[] = [];
      const call = (client as unknown as { bidi(): grpc.ClientDuplexStream<Msg, Msg> }).bidi();
      call.on('data', (m: Msg) => {
        out.push(m.text);
        if (out.length < 3) call.write({ text: `m${out.length}` });
        else call.end();
      });
      call.on('error', reject);
      call.on('end', () => resolve(out));
      call.write({ text: 'm0' });
    });
    expect(echoed).toEqual(['echo:m0', 'echo:m1', 'echo:m2']);
  });

  it('passes a gRPC error status through to the client', async () => {
    const backend = await grpcBackend('a', { failWith: { code: grpc.status.NOT_FOUND, times: 1 } });
    const { client } = await front({ backends: [backend.config] });
    await expect(unary(client, 'missing')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'backend a says no',
    });
  });

  it('retries a retryable gRPC status (UNAVAILABLE) on another backend, never a non-retryable one', async () => {
    const flaky = await grpcBackend('flaky', { failWith: { code: grpc.status.UNAVAILABLE, times: 100 } });
    const good = await grpcBackend('good');
    const { client, lb } = await front({
      backends: [flaky.config, good.config],
      strategy: 'round-robin',
      retry: { budget: false },
    });
    const retries: string[] = [];
    lb.on('retry', (e) => retries.push(e.backend));
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await unary(client, `c${i}`));
    expect(answers.map((a) => a.text)).toEqual(['good:c0', 'good:c1', 'good:c2', 'good:c3']);
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((b) => b === 'flaky')).toBe(true);

    const denied = await grpcBackend('denied', { failWith: { code: grpc.status.PERMISSION_DENIED, times: 100 } });
    const second = await front({ backends: [denied.config, good.config], strategy: 'round-robin' });
    const outcomes = await Promise.allSettled([unary(second.client, 'x'), unary(second.client, 'y')]);
    expect(outcomes.some((o) => o.status === 'rejected' && (o.reason as grpc.ServiceError).code === 7)).toBe(true);
    expect(denied.calls).toHaveLength(1);
  });

  it('counts a gRPC failure status as a breaker failure, as configured', async () => {
    const flaky = await grpcBackend('flaky', { failWith: { code: grpc.status.INTERNAL, times: 100 } });
    const { client, lb } = await front({
      backends: [flaky.config],
      retry: false,
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeout: '1m' },
    });
    const opened: string[] = [];
    lb.on('breaker:open', ({ backend }) => opened.push(backend));
    for (let i = 0; i < 3; i++)
      await expect(unary(client, `f${i}`)).rejects.toMatchObject({ code: grpc.status.INTERNAL });
    expect(opened).toEqual(['flaky']);
    // The breaker is open: the balancer answers itself, in gRPC terms.
    await expect(unary(client, 'refused')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(flaky.calls).toHaveLength(3);
  });

  it('counts a failure status in the trailers after messages as a breaker failure, and stats see it', async () => {
    const flaky = await grpcBackend('flaky', { streamEndsWith: grpc.status.UNAVAILABLE });
    const { client, lb } = await front({
      backends: [flaky.config],
      outlierDetection: false,
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeout: '1m' },
    });
    const opened: string[] = [];
    lb.on('breaker:open', ({ backend }) => opened.push(backend));
    const requests: Array<{ status: number; grpcStatus?: number; error?: string }> = [];
    lb.on('request', (e) => requests.push(e));
    for (let i = 0; i < 3; i++) {
      // The client gets the messages and then the backend's status, as the backend sent them.
      expect(await serverStream(client, 2)).toEqual({ messages: ['flaky:0', 'flaky:1'], code: 14 });
    }
    await until(() => requests.length === 3);
    expect(requests.map((e) => [e.status, e.grpcStatus, e.error])).toEqual(Array(3).fill([200, 14, undefined]));
    await until(() => opened.length === 1);
    expect(opened).toEqual(['flaky']);
    expect(lb.backends()[0]).toMatchObject({ status: 'open', failures: 3 });
    // Open: the balancer answers the next call itself, and the backend never sees it.
    expect(await serverStream(client, 2)).toEqual({ messages: [], code: grpc.status.UNAVAILABLE });
    expect(flaky.calls).toHaveLength(3);
    await until(() => requests.length === 4);
    expect(requests[3]).toMatchObject({ status: 200, grpcStatus: 14, error: 'ERR_NO_BACKEND' });
  });

  it('ejects a backend whose streams keep failing in their trailers (outlier detection)', async () => {
    const flaky = await grpcBackend('flaky', { streamEndsWith: grpc.status.INTERNAL });
    const good = await grpcBackend('good');
    const { client, lb } = await front({
      backends: [flaky.config, good.config],
      strategy: 'round-robin',
      circuitBreaker: false,
      outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 100, baseEjectionTime: '1m' },
    });
    const ejected: string[] = [];
    lb.on('backend:ejected', ({ backend }) => ejected.push(backend.id));
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await serverStream(client, 1)).code);
    await until(() => ejected.length === 1);
    expect(ejected).toEqual(['flaky']);
    expect(codes.filter((c) => c === grpc.status.INTERNAL)).toHaveLength(2);
    // Ejected: every later call goes to the good backend.
    for (let i = 0; i < 3; i++) expect(await serverStream(client, 1)).toEqual({ messages: ['good:0'], code: 0 });
    expect(flaky.calls).toHaveLength(2);
  });

  it('does not count streams that end with OK, nor a caller error in the trailers', async () => {
    const ok = await grpcBackend('ok');
    const notFound = await grpcBackend('nf', { streamEndsWith: grpc.status.NOT_FOUND });
    const { client, lb } = await front({
      backends: [ok.config, notFound.config],
      strategy: 'round-robin',
      circuitBreaker: { errorThresholdPercentage: 1, volumeThreshold: 1, resetTimeout: '1m' },
      outlierDetection: { consecutive5xx: 1, maxEjectionPercent: 100 },
    });
    const news: string[] = [];
    lb.on('breaker:open', ({ backend }) => news.push(`open:${backend}`));
    const grpcStatuses: Array<number | undefined> = [];
    lb.on('request', (e) => grpcStatuses.push(e.grpcStatus));
    lb.on('backend:ejected', ({ backend }) => news.push(`ejected:${backend.id}`));
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await serverStream(client, 2)).code);
    expect(codes.sort()).toEqual([0, 0, 0, 5, 5, 5]);
    await until(() => grpcStatuses.length === 6 && lb.backends().every((b) => b.active === 0));
    // The request event names the failure status (NOT_FOUND), and nothing for OK.
    expect(grpcStatuses.sort()).toEqual([5, 5, 5, undefined, undefined, undefined]);
    expect(news).toEqual([]);
    expect(lb.backends().map((b) => [b.id, b.status, b.failures])).toEqual([
      ['ok', 'healthy', 0],
      ['nf', 'healthy', 0],
    ]);
  });

  it('ends the client stream of a call the balancer answers itself while retry records its body', async () => {
    // Retry is on (the default), so it records each call's body for a replay; the
    // breaker opens on the first failure and then answers without any attempt.
    const failing = await grpcBackend('failing', { failWith: { code: grpc.status.INTERNAL, times: 100 } });
    const { client, lb, openStreams } = await front({
      backends: [failing.config],
      circuitBreaker: { errorThresholdPercentage: 1, volumeThreshold: 1, resetTimeout: '1m' },
    });
    await expect(unary(client, 'x')).rejects.toMatchObject({ code: grpc.status.INTERNAL });
    await until(() => lb.backends()[0]?.status === 'open');
    await expect(unary(client, 'y')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(await serverStream(client, 1)).toEqual({ messages: [], code: grpc.status.UNAVAILABLE });
    expect(failing.calls).toHaveLength(1);
    // The unread request side was drained: the streams close (they stayed half-open, holding the server, before).
    await until(() => openStreams() === 0);
  });

  it('honours grpc-timeout as the total deadline: DEADLINE_EXCEEDED, and the backend gets what is left', async () => {
    const slow = await grpcBackend('slow', { delayMs: 2000 });
    const { lb, server } = await front({ backends: [slow.config], retry: false });
    const events: Array<{ error?: string }> = [];
    lb.on('request', (e) => events.push(e));
    // A raw HTTP/2 client with no deadline of its own (grpc-js would cancel at the same instant the balancer's
    // deadline fires, and either could end the call): only the balancer can answer DEADLINE_EXCEEDED here.
    const session = connect(server);
    cleanup.push(() => closeSession(session));
    const message = Buffer.from(JSON.stringify({ text: 'late' }));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
    const started = Date.now();
    const reply = await h2request(session, {
      method: 'POST',
      path: '/test.Echo/Unary',
      headers: { 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '150m' },
      body: frame,
    });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(reply.status).toBe(200);
    expect(reply.headers['grpc-status'] ?? reply.trailers['grpc-status']).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    await until(() => events.length === 1);
    expect(events[0]).toMatchObject({ error: 'ERR_DEADLINE' });
    // The backend got the deadline the call had left (at most the client's 150 ms), not none.
    expect(slow.deadlineLeft).toHaveLength(1);
    expect(slow.deadlineLeft[0]).toBeGreaterThan(0);
    expect(slow.deadlineLeft[0]).toBeLessThanOrEqual(150);
  });
});
