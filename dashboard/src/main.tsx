import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, messageOf, setCsrfToken, whenUnauthorized } from './api';
import { Backends } from './backends';
import { Charts } from './charts';
import { Policies, Rollouts } from './controls';
import { clock, ms, percent, rate } from './format';
import type { Backend, Json, LiveEvent, Rollout, SessionInfo, Stats } from './types';
import './styles.css';

/** How often the page asks for fresh figures, in milliseconds (the issue allows at most every 2 s). */
const POLL_MS = 2000;
const MAX_EVENTS = 100;

interface Snapshot {
  backends: Backend[];
  stats: Stats | undefined;
  config: Record<string, Json>;
  rollout: Rollout | undefined;
  updatedAt: Date;
}

/** Optional views a router's admin offers (`GET /routes`, `GET /pools`); `undefined` when absent. */
interface Extras {
  routes: Json | undefined;
  pools: Json | undefined;
}

/** The session answer: the API lists its routes, so the page asks only for what exists. */
interface SessionAnswer {
  session: SessionInfo | null;
  api?: string[];
}

/** GET `path` when the API offers it (`undefined` otherwise). */
function optional<T>(paths: readonly string[], path: string, query = ''): Promise<T | undefined> {
  return paths.includes(path) ? api<T>('GET', `${path}${query}`) : Promise.resolve(undefined);
}

function Login({ onLogin, notice }: { onLogin: (s: SessionAnswer) => void; notice: string | undefined }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <main id="main" class="login">
      <form
        method="post"
        noValidate
        aria-labelledby="login-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            const r = await api<SessionAnswer>('POST', '/session', { token });
            setToken('');
            onLogin(r);
          } catch (err) {
            setError(err instanceof ApiError && err.status === 401 ? 'That token is not right.' : messageOf(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="login-title">switchyard</h1>
        <p class="muted">Log in with the admin token.</p>
        {notice ? (
          <p class="notice" role="status">
            {notice}
          </p>
        ) : null}
        <div class={`field${error ? ' has-error' : ''}`}>
          <label for="token">Admin token</label>
          <input
            ref={input}
            id="token"
            name="token"
            type="password"
            autocomplete="current-password"
            required
            value={token}
            onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
            aria-describedby={error ? 'token-error' : undefined}
            aria-invalid={error ? true : undefined}
          />
          {error ? (
            <p class="field-error" id="token-error" role="alert">
              {error}
            </p>
          ) : null}
        </div>
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}

function Summary({ snapshot }: { snapshot: Snapshot }) {
  const counts: Record<string, number> = {};
  for (const b of snapshot.backends) counts[b.status] = (counts[b.status] ?? 0) + 1;
  const t = snapshot.stats?.totals;
  return (
    <section aria-label="Summary" class="summary">
      <dl>
        <div>
          <dt>Backends</dt>
          <dd>
            {snapshot.backends.length}
            {Object.entries(counts).map(([status, n]) => (
              <span key={status} class={`badge badge-${status}`}>
                {n} {status}
              </span>
            ))}
          </dd>
        </div>
        <div>
          <dt>Traffic</dt>
          <dd data-testid="total-rps">{t ? `${rate(t.rps)} req/s` : '–'}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd>{t ? percent(t.errorRate) : '–'}</dd>
        </div>
        <div>
          <dt>p50 / p95 / p99</dt>
          <dd>{t ? `${ms(t.p50)} / ${ms(t.p95)} / ${ms(t.p99)}` : '–'}</dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd>{snapshot.updatedAt.toLocaleTimeString([], { hour12: false })}</dd>
        </div>
      </dl>
    </section>
  );
}

function Events({ events }: { events: readonly LiveEvent[] }) {
  return (
    <section aria-labelledby="events-title" class="panel">
      <h2 id="events-title">Recent events</h2>
      {events.length === 0 ? (
        <p class="muted">Nothing yet: health transitions, ejections, breaker changes and rollouts show here.</p>
      ) : (
        // biome-ignore lint/a11y/noNoninteractiveTabindex: it scrolls on its own, so it takes focus for keyboard scrolling (WCAG 2.1.1)
        <ol class="events" reversed tabIndex={0} aria-label="Recent events, newest first">
          {[...events].reverse().map((e) => (
            <li key={e.seq} data-type={e.type}>
              <time dateTime={e.time}>{clock(e.time)}</time> <span class="event-type">{e.type}</span>{' '}
              {e.backend ? <strong>{e.backend}</strong> : null} {e.message}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** One line for a JSON value: scalars as they are, lists of scalars joined, anything else summarised. */
function brief(value: Json): string {
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) {
    return value.every((v) => v === null || typeof v !== 'object') ? value.join(', ') : `${value.length} item(s)`;
  }
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A list the API returns (`{ routes: [...] }`, `{ pools: [...] }`): one card per item, its fields as lines. */
function JsonView({ title, id, value }: { title: string; id: string; value: Json }) {
  const list = value && typeof value === 'object' && !Array.isArray(value) ? Object.values(value)[0] : value;
  const items = Array.isArray(list) ? list : [value];
  return (
    <section aria-labelledby={id} class="panel">
      <h2 id={id}>
        {title} ({items.length})
      </h2>
      <ul class="json-list">
        {items.map((item, i) => {
          const fields = item && typeof item === 'object' && !Array.isArray(item) ? Object.entries(item) : [];
          const name = fields.find(([k]) => k === 'name' || k === 'id')?.[1];
          return (
            <li key={typeof name === 'string' ? name : i}>
              {fields.length === 0 ? (
                <code>{brief(item)}</code>
              ) : (
                <dl>
                  {fields.map(([key, v]) => (
                    <div key={key}>
                      <dt>{key}</dt>
                      <dd>{brief(v)}</dd>
                    </div>
                  ))}
                </dl>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function Dashboard({ onLogout, paths }: { onLogout: () => void; paths: readonly string[] }) {
  const [snapshot, setSnapshot] = useState<Snapshot | undefined>();
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const [extras, setExtras] = useState<Extras>({ routes: undefined, pools: undefined });
  const [problem, setProblem] = useState<string | undefined>();
  const [message, setMessage] = useState('');
  const lastSeq = useRef(0);
  const timer = useRef<number | undefined>(undefined);
  // One poll at a time: a refresh asked for meanwhile runs right after it.
  const running = useRef<Promise<void> | undefined>(undefined);
  const again = useRef(false);
  const stopped = useRef(false);

  const fetchAll = useCallback(async () => {
    try {
      const [b, s, c, r, e] = await Promise.all([
        api<{ backends: Backend[] }>('GET', '/backends'),
        optional<Stats>(paths, '/stats'),
        optional<{ config: Record<string, Json> }>(paths, '/config'),
        optional<{ rollout: Rollout | null }>(paths, '/rollout/status'),
        optional<{ events: LiveEvent[]; last: number }>(paths, '/events', `?after=${lastSeq.current}`),
      ]);
      if (stopped.current) return;
      setSnapshot({
        backends: b.backends,
        stats: s,
        config: c?.config ?? {},
        rollout: r?.rollout ?? undefined,
        updatedAt: new Date(),
      });
      if (e && e.events.length > 0) {
        lastSeq.current = e.last;
        setEvents((old) => [...old, ...e.events].slice(-MAX_EVENTS));
      }
      setProblem(undefined);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) stopped.current = true;
      else if (!stopped.current) setProblem(messageOf(error));
    }
  }, [paths]);

  const poll = useCallback((): Promise<void> => {
    if (running.current) {
      again.current = true;
      return running.current;
    }
    window.clearTimeout(timer.current);
    running.current = (async () => {
      do {
        again.current = false;
        await fetchAll();
      } while (again.current && !stopped.current);
      running.current = undefined;
      if (!stopped.current) timer.current = window.setTimeout(poll, POLL_MS);
    })();
    return running.current;
  }, [fetchAll]);

  useEffect(() => {
    stopped.current = false;
    void poll();
    void Promise.all([optional<Json>(paths, '/routes'), optional<Json>(paths, '/pools')])
      .then(([routes, pools]) => setExtras({ routes, pools }))
      .catch(() => {});
    return () => {
      stopped.current = true;
      window.clearTimeout(timer.current);
    };
  }, [poll, paths]);

  const notify = (m: string) => setMessage(`${new Date().toLocaleTimeString([], { hour12: false })} ${m}`);
  const refresh = () => void poll();

  return (
    <>
      <header class="top">
        <h1>switchyard</h1>
        <p class="status-line" role="status" aria-live="polite" data-testid="action-status">
          {message}
        </p>
        <button
          type="button"
          class="secondary"
          onClick={async () => {
            // Stop polling first, so no request goes out with a session that is gone.
            stopped.current = true;
            window.clearTimeout(timer.current);
            await running.current;
            try {
              await api('DELETE', '/session');
            } finally {
              onLogout();
            }
          }}
        >
          Log out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {problem ? (
          <p class="problem" role="alert">
            {problem}
          </p>
        ) : null}
        {snapshot ? (
          <>
            <Summary snapshot={snapshot} />
            <Backends
              backends={snapshot.backends}
              figures={snapshot.stats?.backends ?? []}
              notify={notify}
              refresh={refresh}
            />
            {snapshot.stats ? <Charts stats={snapshot.stats} /> : null}
            <div class="columns">
              <Rollouts rollout={snapshot.rollout} notify={notify} refresh={refresh} />
              <Policies config={snapshot.config} notify={notify} refresh={refresh} />
            </div>
            {extras.routes !== undefined ? <JsonView title="Routes" id="routes-title" value={extras.routes} /> : null}
            {extras.pools !== undefined ? <JsonView title="Pools" id="pools-title" value={extras.pools} /> : null}
            <Events events={events} />
          </>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </main>
    </>
  );
}

function App() {
  const [state, setState] = useState<'checking' | 'out' | 'in'>('checking');
  const [notice, setNotice] = useState<string | undefined>();
  const [paths, setPaths] = useState<readonly string[]>([]);
  const enter = (answer: SessionAnswer) => {
    if (!answer.session) {
      setState('out');
      return;
    }
    setCsrfToken(answer.session.csrfToken);
    setPaths(answer.api ?? ['/backends']);
    setNotice(undefined);
    setState('in');
  };

  useEffect(() => {
    whenUnauthorized(() => {
      setCsrfToken(undefined);
      setNotice('Your session ended: log in again.');
      setState('out');
    });
    api<SessionAnswer>('GET', '/session')
      .then(enter)
      .catch(() => setState('out'));
  }, []);

  if (state === 'checking') return <p class="muted">Loading…</p>;
  if (state === 'out') {
    return <Login notice={notice} onLogin={enter} />;
  }
  return (
    <Dashboard
      paths={paths}
      onLogout={() => {
        setCsrfToken(undefined);
        setNotice('You are logged out.');
        setState('out');
      }}
    />
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
