import { readFileSync } from 'node:fs';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, createLoadBalancer, type LoadBalancer } from '../src/index.js';
import { createMemoryBackend, type TestBackend } from '../src/testing/index.js';
import { type Fixture, setup } from './fixture.js';
import { type Listening, listen, request } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function metricsServer(lb: LoadBalancer): Promise<Listening> {
  const server = await listen(lb.metricsHandler);
  cleanups.push(() => server.close());
  return server;
}

/** Resolves once `n` requests have finished on the balancer side (the `request` event). */
function finished(lb: LoadBalancer, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const listener = () => {
      if (++seen === n) {
        lb.off('request', listener);
        resolve();
      }
    };
    lb.on('request', listener);
  });
}

/** `name{labels} value` lines of a Prometheus text exposition, as a map. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

async function scrape(lb: LoadBalancer): Promise<Map<string, number>> {
  const server = await metricsServer(lb);
  const reply = await request(server.port, { path: '/metrics' });
  expect(reply.status).toBe(200);
  return samples(reply.text);
}

describe('metrics end to end', () => {
  it('counts real traffic per backend, method and status class, with durations', async () => {
    fx = await setup(['a', 'b']);
    const done = finished(fx.lb, 5);
    for (let i = 0; i < 4; i++) await request(fx.front.port, { path: `/x${i}` });
    await request(fx.front.port, { method: 'DELETE', path: '/gone' });
    await done;
    const m = await scrape(fx.lb);
    expect(m.get('switchyard_requests_total{backend="a",method="GET",status_class="2xx"}')).toBe(2);
    expect(m.get('switchyard_requests_total{backend="b",method="GET",status_class="2xx"}')).toBe(2);
    expect(m.get('switchyard_requests_total{backend="a",method="DELETE",status_class="2xx"}')).toBe(1);
    expect(m.get('switchyard_request_duration_seconds_count{status_class="2xx"}')).toBe(5);
    expect(m.get('switchyard_upstream_duration_seconds_count{backend="a"}')).toBe(3);
    expect(m.get('switchyard_upstream_duration_seconds_count{backend="b"}')).toBe(2);
    expect(m.get('switchyard_backend_active_requests{backend="a"}')).toBe(0);
    expect(m.get('switchyard_requests_in_flight')).toBe(0);
    expect(m.get('switchyard_backend_up{backend="b"}')).toBe(1);
    expect(m.get('switchyard_backend_state{backend="a",state="healthy"}')).toBe(1);
    expect(m.get('switchyard_backend_breaker_state{backend="a",state="closed"}')).toBe(1);
    // Keep-alive: the connections that carried the requests stay open, idle.
    expect(m.get('switchyard_backend_open_connections{backend="a",state="idle"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('switchyard_backend_open_connections{backend="a",state="busy"}')).toBe(0);
  });

  it('shows active requests and busy connections while requests are in flight', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived!: () => void;
    const bothArrived = new Promise<void>((resolve) => {
      let n = 0;
      arrived = () => {
        if (++n === 2) resolve();
      };
    });
    const backend = createMemoryBackend({
      id: 'a',
      handler: async (_req, res) => {
        arrived();
        await gate;
        res.end('ok');
      },
    });
    const lb = createLoadBalancer({ backends: [backend.config] });
    const front = await listen(lb.handler);
    cleanups.push(async () => {
      await front.close();
      await lb.close();
      await backend.close();
    });
    const pending = [request(front.port), request(front.port)];
    await bothArrived;
    const m = await scrape(lb);
    expect(m.get('switchyard_backend_active_requests{backend="a"}')).toBe(2);
    expect(m.get('switchyard_requests_in_flight')).toBe(2);
    expect(m.get('switchyard_backend_open_connections{backend="a",state="busy"}')).toBe(2);
    release();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('counts upstream errors and retries by backend and reason', async () => {
    fx = await setup(['a', 'b']);
    await fx.backends[0]?.fail('reset');
    const done = finished(fx.lb, 1);
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(200);
    await done;
    const m = await scrape(fx.lb);
    expect(m.get('switchyard_upstream_errors_total{backend="a",code="ERR_UPSTREAM_RESET"}')).toBe(1);
    expect(m.get('switchyard_retries_total{backend="a",reason="reset"}')).toBe(1);
    expect(m.get('switchyard_requests_total{backend="b",method="GET",status_class="2xx"}')).toBe(1);
  });

  it('counts requests the balancer ended itself by error code', async () => {
    fx = await setup([]);
    const done = finished(fx.lb, 1);
    expect((await request(fx.front.port)).status).toBe(503);
    await done;
    const m = await scrape(fx.lb);
    expect(m.get('switchyard_request_errors_total{code="ERR_NO_BACKEND"}')).toBe(1);
    expect(m.get('switchyard_requests_total{backend="none",method="GET",status_class="5xx"}')).toBe(1);
  });

  it('keeps two balancers in one process apart, each in its own registry', async () => {
    fx = await setup(['a']);
    const other = await setup(['a']);
    cleanups.push(() => other.close());
    const done = finished(fx.lb, 3);
    for (let i = 0; i < 3; i++) await request(fx.front.port);
    await done;
    expect((await scrape(fx.lb)).get('switchyard_requests_total{backend="a",method="GET",status_class="2xx"}')).toBe(3);
    expect(
      (await scrape(other.lb)).get('switchyard_requests_total{backend="a",method="GET",status_class="2xx"}'),
    ).toBeUndefined();
  });

  it("registers in the user's registry next to the user's own metrics", async () => {
    const registry = new Registry();
    new Counter({ name: 'app_logins_total', help: 'logins', registers: [registry] }).inc(2);
    fx = await setup(['a'], { metrics: { registry, defaultLabels: { instance: 'edge-1' } } });
    const done = finished(fx.lb, 1);
    await request(fx.front.port);
    await done;
    const text = await registry.metrics();
    expect(text).toContain('app_logins_total 2');
    expect(text).toContain(
      'switchyard_requests_total{instance="edge-1",backend="a",method="GET",status_class="2xx"} 1',
    );
    // A second balancer on the same registry needs its own prefix.
    const backend = createMemoryBackend({ id: 'z' });
    cleanups.push(() => backend.close());
    expect(() => createLoadBalancer({ backends: [backend.config], metrics: { registry } })).toThrow(ConfigError);
    const second = createLoadBalancer({ backends: [backend.config], metrics: { registry, prefix: 'edge2_' } });
    cleanups.push(() => second.close());
    expect(registry.getSingleMetric('edge2_requests_total')).toBeDefined();
    // Closing it hands the names back.
    await second.close();
    expect(registry.getSingleMetric('edge2_requests_total')).toBeUndefined();
  });

  it('serves metrics only with the bearer token when one is set', async () => {
    fx = await setup(['a'], { metrics: { token: 's3cr3t-token' } });
    const server = await metricsServer(fx.lb);
    const ok = await request(server.port, { headers: { authorization: 'Bearer s3cr3t-token' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(ok.text).toContain('# TYPE switchyard_requests_total counter');
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Bearer s3cr3t-token-and-more' }]) {
      const denied = await request(server.port, { headers: headers as Record<string, string> });
      expect(denied.status).toBe(401);
      expect(denied.text).toBe('');
    }
    const json = await request(server.port, {
      path: '/metrics?format=json',
      headers: { authorization: 'Bearer s3cr3t-token' },
    });
    expect(json.status).toBe(200);
  });

  it('keeps label cardinality bounded under random paths, client IPs, methods and request ids', async () => {
    fx = await setup(['a', 'b'], { trustProxy: true });
    const random = (n: number) => Math.floor(Math.random() * n);
    const send = (i: number) =>
      request(fx!.front.port, {
        method: ['GET', 'POST', 'PURGE', 'PROPFIND', 'REPORT'][i % 5] as string,
        path: `/${random(1e9)}/${random(1e9)}?q=${random(1e9)}`,
        headers: {
          'x-forwarded-for': `${random(256)}.${random(256)}.${random(256)}.${random(256)}`,
          'x-request-id': `id-${i}-${random(1e9)}`,
          'user-agent': `agent-${random(1e9)}`,
        },
      });
    const batch = async (from: number, count: number) => {
      const done = finished(fx!.lb, count);
      for (let i = from; i < from + count; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, from + count - i) }, (_, k) => send(i + k)));
      }
      await done;
    };
    await batch(0, 50);
    const before = await scrape(fx.lb);
    await batch(50, 950);
    const after = await scrape(fx.lb);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    const total = [...after.entries()]
      .filter(([k]) => k.startsWith('switchyard_requests_total{'))
      .reduce((sum, [, v]) => sum + v, 0);
    expect(total).toBe(1000);
    const text = [...after.keys()].join('\n');
    expect(text).not.toMatch(/\d+\.\d+\.\d+\.\d+/);
    expect(text).not.toContain('id-');
    expect(text).not.toContain('agent-');
    expect(after.size).toBeLessThan(400);
  });

  it("drops a removed backend's series", async () => {
    fx = await setup(['a', 'b']);
    const done = finished(fx.lb, 2);
    await request(fx.front.port);
    await request(fx.front.port);
    await done;
    expect([...(await scrape(fx.lb)).keys()].some((k) => k.includes('backend="b"'))).toBe(true);
    await fx.lb.removeBackend('b');
    expect([...(await scrape(fx.lb)).keys()].some((k) => k.includes('backend="b"'))).toBe(false);
  });

  it('summarizes latency percentiles per backend in stats() and at ?format=json', async () => {
    fx = await setup(['a', 'b']);
    const done = finished(fx.lb, 20);
    for (let i = 0; i < 20; i++) await request(fx.front.port);
    await done;
    const stats = fx.lb.stats();
    expect(stats.requests.total).toBe(20);
    expect(stats.requests.statusClasses['2xx']).toBe(20);
    expect(stats.requests.latencyMs.count).toBe(20);
    for (const backend of stats.backends) {
      expect(backend.latencyMs.count).toBe(10);
      expect(backend.latencyMs.p50).toBeGreaterThan(0);
      expect(backend.latencyMs.p50).toBeLessThanOrEqual(backend.latencyMs.p95);
      expect(backend.latencyMs.p95).toBeLessThanOrEqual(backend.latencyMs.p99);
      expect(backend.statusClasses['2xx']).toBe(10);
    }
    const server = await metricsServer(fx.lb);
    const json = await request(server.port, { path: '/?format=json' });
    expect(json.json<{ requests: { total: number } }>().requests.total).toBe(20);
  });

  it('records nothing with metrics: false', async () => {
    fx = await setup(['a'], { metrics: false });
    await request(fx.front.port);
    const server = await metricsServer(fx.lb);
    expect((await request(server.port)).status).toBe(404);
    const stats = fx.lb.stats();
    expect(stats.windowSeconds).toBe(0);
    expect(stats.requests.total).toBe(0);
    expect(stats.backends[0]?.requests).toBe(1);
  });
});

describe('examples/grafana-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(new URL('../examples/grafana-dashboard.json', import.meta.url), 'utf8'));

  function exprs(node: unknown, out: string[] = []): string[] {
    if (Array.isArray(node)) for (const item of node) exprs(item, out);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if ((key === 'expr' || key === 'query') && typeof value === 'string') out.push(value);
        else exprs(value, out);
      }
    }
    return out;
  }

  it('references only metrics the balancer exports', () => {
    const backend: TestBackend = createMemoryBackend({ id: 'a' });
    const lb = createLoadBalancer({ backends: [backend.config] });
    cleanups.push(async () => {
      await lb.close();
      await backend.close();
    });
    const names = new Set<string>();
    for (const expr of exprs(dashboard)) for (const name of expr.match(/switchyard_[a-z_]+/g) ?? []) names.add(name);
    expect(names.size).toBeGreaterThan(15);
    for (const name of names) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      expect(
        lb.metricsRegistry?.getSingleMetric(name) ?? lb.metricsRegistry?.getSingleMetric(base),
        name,
      ).toBeDefined();
    }
  });

  it('takes its datasource from the DS_PROMETHEUS input', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' })]);
    const uids = new Set<string>();
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        const datasource = (node as { datasource?: { uid?: string } }).datasource;
        if (datasource && typeof datasource === 'object' && datasource.uid) uids.add(datasource.uid);
        Object.values(node).forEach(walk);
      }
    };
    walk(dashboard.panels);
    // Grafana substitutes `${DS_PROMETHEUS}` with the datasource picked on import.
    expect([...uids]).toEqual([`\${${dashboard.__inputs[0].name}}`]);
  });
});
