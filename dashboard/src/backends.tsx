import { useState } from 'preact/hooks';
import { described, FieldError, InputField, useAction } from './action';
import { api } from './api';
import { useDraft } from './draft';
import { ms, percent, rate } from './format';
import type { Backend, BackendFigures } from './types';

interface RowProps {
  readonly backend: Backend;
  readonly figures: BackendFigures | undefined;
  readonly notify: (message: string) => void;
  readonly refresh: () => void;
}

function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}

function Row({ backend: b, figures: f, notify, refresh }: RowProps) {
  // Follows changes made elsewhere (another operator, a rollout) until the user edits it.
  const draft = useDraft(String(b.weight));
  const weight = draft.value;
  const action = useAction(['weight'], (m) => {
    draft.applied();
    notify(m);
    refresh();
  });
  const key = b.id.replace(/[^\w-]/g, '_');
  const weightId = `weight-${key}`;
  const enc = encodeURIComponent(b.id);

  const setWeightNow = (event: Event) => {
    event.preventDefault();
    const value = Number(weight);
    if (weight.trim() === '' || !Number.isFinite(value)) {
      action.fail('weight', 'a number');
      return;
    }
    void action.run(async () => {
      await api('PATCH', `/backends/${enc}`, { weight: value });
      return `${b.id}: weight set to ${value}`;
    });
  };

  return (
    <tr data-backend={b.id} data-status={b.status}>
      <th scope="row" data-label="Backend">
        <span class="backend-id">{b.id}</span>
        <span class="backend-url">{b.url}</span>
      </th>
      <td data-label="Status">
        <StatusBadge status={b.status} />
      </td>
      <td data-label="Health">{f?.health ?? '–'}</td>
      <td data-label="Breaker">{f?.breaker ?? '–'}</td>
      <td data-label="Ejected">
        {f ? (f.ejected ? `yes (${f.ejections}×)` : f.ejections ? `no (${f.ejections}×)` : 'no') : '–'}
      </td>
      <td data-label="Weight">
        <form class="inline" noValidate onSubmit={setWeightNow}>
          <label class="visually-hidden" for={weightId}>
            Weight of {b.id}
          </label>
          <input
            id={weightId}
            name="weight"
            type="number"
            inputMode="numeric"
            min="0"
            step="any"
            value={weight}
            onInput={(e) => draft.edit((e.currentTarget as HTMLInputElement).value)}
            {...described(weightId, action.errors.weight ?? action.errors.form)}
          />
          <button type="submit" disabled={action.busy}>
            Set<span class="visually-hidden"> weight of {b.id}</span>
          </button>
          <FieldError id={`${weightId}-error`} message={action.errors.weight ?? action.errors.form} />
        </form>
      </td>
      <td data-label="Effective weight" class="num">
        {Math.round(b.effectiveWeight * 100) / 100}
      </td>
      <td data-label="Active" class="num">
        {b.active}
      </td>
      <td data-label="Req/s" class="num">
        {f ? rate(f.rps) : '–'}
      </td>
      <td data-label="Errors" class="num">
        {f ? percent(f.errorRate) : '–'}
      </td>
      <td data-label="p50" class="num">
        {ms(f?.p50)}
      </td>
      <td data-label="p95" class="num">
        {ms(f?.p95)}
      </td>
      <td data-label="p99" class="num">
        {ms(f?.p99)}
      </td>
      <td data-label="Actions" class="actions">
        <RowActions backend={b} notify={notify} refresh={refresh} />
      </td>
    </tr>
  );
}

function RowActions({ backend: b, notify, refresh }: Omit<RowProps, 'figures'>) {
  const action = useAction([], (m) => {
    notify(m);
    refresh();
  });
  const enc = encodeURIComponent(b.id);
  const id = `actions-${b.id.replace(/[^\w-]/g, '_')}`;
  return (
    <div>
      <button
        type="button"
        disabled={action.busy || b.status === 'draining'}
        onClick={() =>
          action.run(async () => {
            const r = await api<{ removed: boolean }>('POST', `/backends/${enc}/drain`);
            return r.removed ? `${b.id}: drained and removed` : `${b.id}: draining`;
          })
        }
      >
        Drain<span class="visually-hidden"> {b.id}</span>
      </button>
      <button
        type="button"
        class="danger"
        disabled={action.busy}
        onClick={() => {
          if (!window.confirm(`Remove ${b.id} now? Requests in flight are cut.`)) return;
          void action.run(async () => {
            await api('DELETE', `/backends/${enc}?drain=false`);
            return `${b.id}: removed`;
          });
        }}
      >
        Remove<span class="visually-hidden"> {b.id}</span>
      </button>
      <FieldError id={`${id}-error`} message={action.errors.form} />
    </div>
  );
}

/** Every backend with its state and live figures, and the add form. */
export function Backends(props: {
  backends: readonly Backend[];
  figures: readonly BackendFigures[];
  notify: (message: string) => void;
  refresh: () => void;
}) {
  const byId = new Map(props.figures.map((f) => [f.id, f]));
  return (
    <section aria-labelledby="backends-title" class="panel">
      <h2 id="backends-title">Backends ({props.backends.length})</h2>
      <div class="table-wrap">
        <table class="backends">
          <caption class="visually-hidden">
            Backends: state, weight, live traffic over the last seconds and latency percentiles
          </caption>
          <thead>
            <tr>
              <th scope="col">Backend</th>
              <th scope="col">Status</th>
              <th scope="col">Health</th>
              <th scope="col">Breaker</th>
              <th scope="col">Ejected</th>
              <th scope="col">Weight</th>
              <th scope="col">Eff. weight</th>
              <th scope="col">Active</th>
              <th scope="col">Req/s</th>
              <th scope="col">Errors</th>
              <th scope="col">p50</th>
              <th scope="col">p95</th>
              <th scope="col">p99</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {props.backends.map((b) => (
              <Row key={b.id} backend={b} figures={byId.get(b.id)} notify={props.notify} refresh={props.refresh} />
            ))}
          </tbody>
        </table>
      </div>
      <AddBackend notify={props.notify} refresh={props.refresh} />
    </section>
  );
}

function AddBackend({ notify, refresh }: { notify: (m: string) => void; refresh: () => void }) {
  const [url, setUrl] = useState('');
  const [id, setId] = useState('');
  const [weight, setWeight] = useState('');
  const action = useAction(['url', 'id', 'weight'], (m) => {
    notify(m);
    refresh();
  });
  const submit = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      const body: Record<string, unknown> = { url: url.trim() };
      if (id.trim()) body.id = id.trim();
      if (weight.trim()) body.weight = Number(weight);
      const r = await api<{ backend: Backend }>('POST', '/backends', body);
      setUrl('');
      setId('');
      setWeight('');
      return `${r.backend.id}: added`;
    });
  };
  return (
    <form class="add-backend" noValidate onSubmit={submit} aria-labelledby="add-title">
      <h3 id="add-title">Add a backend</h3>
      <div class="row">
        <InputField
          id="add-url"
          name="url"
          label="URL"
          placeholder="http://10.0.0.5:8080"
          error={action.errors.url}
          value={url}
          onValue={setUrl}
        />
        <InputField id="add-id" name="id" label="Id (optional)" error={action.errors.id} value={id} onValue={setId} />
        <InputField
          id="add-weight"
          name="weight"
          label="Weight (optional)"
          type="number"
          step="any"
          error={action.errors.weight}
          value={weight}
          onValue={setWeight}
        />
        <div class="field submit">
          <button type="submit" disabled={action.busy}>
            Add backend
          </button>
        </div>
      </div>
      <FieldError id="add-form-error" message={action.errors.form} />
    </form>
  );
}
