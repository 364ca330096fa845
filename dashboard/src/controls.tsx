import { useState } from 'preact/hooks';
import { described, Field, FieldError, InputField, useAction } from './action';
import { api } from './api';
import { useDraft } from './draft';
import { clock, percent } from './format';
import { POLICY_SECTIONS, STRATEGY_NAMES } from './strategies';
import type { Json, Rollout } from './types';

type Config = Readonly<Record<string, Json>>;

function strategyName(config: Config): string {
  const s = config.strategy;
  if (typeof s === 'string') return s;
  if (s && typeof s === 'object' && !Array.isArray(s) && typeof s.name === 'string') return s.name;
  return 'custom';
}

/** The current strategy and policies, and the forms that change them. */
export function Policies({
  config,
  notify,
  refresh,
}: {
  config: Config;
  notify: (m: string) => void;
  refresh: () => void;
}) {
  const current = strategyName(config);
  // The choice and the policy text are drafts: a refresh never overwrites them (see useDraft).
  const choice = useDraft(current);
  const strategy = choice.value;
  const strategyAction = useAction(['strategy'], (m) => {
    choice.applied();
    notify(m);
    refresh();
  });

  const [section, setSection] = useState<string>(POLICY_SECTIONS[0]);
  const policy = useDraft(JSON.stringify(config[section] ?? null, null, 2));
  const text = policy.value;
  const policyAction = useAction(['policy'], (m) => {
    policy.applied();
    notify(m);
    refresh();
  });
  const names: readonly string[] = STRATEGY_NAMES.includes(current as never)
    ? STRATEGY_NAMES
    : [current, ...STRATEGY_NAMES];

  return (
    <section aria-labelledby="policies-title" class="panel">
      <h2 id="policies-title">Strategy and policies</h2>
      <form
        class="row"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void strategyAction.run(async () => {
            await api('PATCH', '/config', { strategy });
            return `strategy set to ${strategy}`;
          });
        }}
      >
        <Field
          id="strategy"
          label={`Strategy (now ${current})`}
          error={strategyAction.errors.strategy ?? strategyAction.errors.form}
        >
          <select
            id="strategy"
            name="strategy"
            value={strategy}
            onChange={(e) => choice.edit((e.currentTarget as HTMLSelectElement).value)}
            {...described('strategy', strategyAction.errors.strategy ?? strategyAction.errors.form)}
          >
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </Field>
        <div class="field submit">
          <button type="submit" disabled={strategyAction.busy || strategy === current}>
            Switch strategy
          </button>
        </div>
      </form>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch {
            policyAction.fail('policy', 'not valid JSON');
            return;
          }
          void policyAction.run(async () => {
            await api('PATCH', '/config', { [section]: value });
            return `${section} updated`;
          });
        }}
      >
        <div class="row">
          <Field id="policy-section" label="Policy" error={undefined}>
            <select
              id="policy-section"
              name="section"
              value={section}
              onChange={(e) => {
                setSection((e.currentTarget as HTMLSelectElement).value);
                policy.reset();
              }}
            >
              {POLICY_SECTIONS.map((n) => (
                <option key={n} value={n}>
                  {n}
                  {config[n] === false || config[n] === undefined ? ' (off)' : ''}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <Field
          id="policy-value"
          label={`${section} (JSON; false turns it off)`}
          error={policyAction.errors.policy ?? policyAction.errors.form}
        >
          <textarea
            id="policy-value"
            name="policy"
            rows={6}
            spellcheck={false}
            value={text}
            onInput={(e) => policy.edit((e.currentTarget as HTMLTextAreaElement).value)}
            {...described('policy-value', policyAction.errors.policy ?? policyAction.errors.form)}
          />
        </Field>
        {policy.changedMeanwhile ? (
          <p class="notice" role="status" id="policy-value-changed">
            The server's {section} changed while you were editing it: Apply keeps your text, Reset shows the new value.
          </p>
        ) : null}
        <div class="buttons">
          <button type="submit" disabled={policyAction.busy}>
            Apply {section}
          </button>
          <button type="button" class="secondary" disabled={!policy.edited} onClick={policy.reset}>
            Reset
          </button>
        </div>
      </form>
    </section>
  );
}

/** Rollout progress with its batches, and start / cancel / rollback. */
export function Rollouts({
  rollout,
  notify,
  refresh,
}: {
  rollout: Rollout | undefined;
  notify: (m: string) => void;
  refresh: () => void;
}) {
  const [targets, setTargets] = useState('');
  const [batchSize, setBatchSize] = useState('1');
  const [interval, setIntervalText] = useState('30s');
  const start = useAction(['backends', 'batchSize', 'interval'], (m) => {
    notify(m);
    refresh();
  });
  const control = useAction([], (m) => {
    notify(m);
    refresh();
  });
  const running = rollout?.status === 'running';

  return (
    <section aria-labelledby="rollout-title" class="panel">
      <h2 id="rollout-title">Rollout</h2>
      {rollout ? (
        <div class="rollout" data-status={rollout.status} data-testid="rollout-status">
          <p>
            <strong>{rollout.id}</strong>: <span class={`badge badge-${rollout.status}`}>{rollout.status}</span> phase{' '}
            <em>{rollout.phase}</em>, batch {rollout.batch} of {rollout.batches}
            {rollout.reason ? ` (${rollout.reason})` : ''}
          </p>
          <label for="rollout-progress">Progress</label>{' '}
          <progress id="rollout-progress" max={rollout.batches} value={rollout.steps.length}>
            {rollout.steps.length} of {rollout.batches}
          </progress>{' '}
          <span>
            {rollout.steps.length}/{rollout.batches} batches passed
          </span>
          <p class="muted">
            started {clock(rollout.startedAt)}
            {rollout.finishedAt ? `, finished ${clock(rollout.finishedAt)}` : ''}; from {rollout.from.join(', ') || '–'}{' '}
            to {rollout.to.join(', ') || '–'}
          </p>
          {rollout.steps.length > 0 ? (
            <div class="table-wrap">
              <table class="steps">
                <caption class="visually-hidden">Rollout batches</caption>
                <thead>
                  <tr>
                    <th scope="col">Batch</th>
                    <th scope="col">Added</th>
                    <th scope="col">Removed</th>
                    <th scope="col">Requests</th>
                    <th scope="col">Error rate</th>
                  </tr>
                </thead>
                <tbody>
                  {rollout.steps.map((s) => (
                    <tr key={s.batch}>
                      <td>
                        {s.batch}/{s.batches}
                      </td>
                      <td>{s.added.join(', ') || '–'}</td>
                      <td>{s.removed.join(', ') || '–'}</td>
                      <td class="num">{s.requests}</td>
                      <td class="num">{percent(s.errorRate)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </div>
      ) : (
        <p class="muted">No rollout has run yet.</p>
      )}
      <div class="buttons">
        <button
          type="button"
          disabled={!running || control.busy}
          onClick={() =>
            control.run(async () => {
              await api('POST', '/rollout/cancel');
              return 'rollout cancelled';
            })
          }
        >
          Cancel rollout
        </button>
        <button
          type="button"
          disabled={running || !rollout || control.busy}
          onClick={() =>
            control.run(async () => {
              await api('POST', '/rollback');
              return 'rollback started';
            })
          }
        >
          Roll back
        </button>
      </div>
      <FieldError id="rollout-control-error" message={control.errors.form} />
      <form
        class="rollout-form"
        noValidate
        aria-labelledby="rollout-start-title"
        onSubmit={(e) => {
          e.preventDefault();
          const urls = targets
            .split(/[\s,]+/)
            .map((u) => u.trim())
            .filter(Boolean);
          if (urls.length === 0) {
            start.fail('backends', 'at least one URL');
            return;
          }
          const size = Number(batchSize);
          void start.run(async () => {
            const r = await api<{ rollout: Rollout }>('POST', '/rollout', {
              backends: urls.map((url) => ({ url })),
              batchSize: Number.isFinite(size) && batchSize.trim() !== '' ? size : batchSize,
              interval: /^\d+(\.\d+)?$/.test(interval.trim()) ? Number(interval) : interval.trim(),
            });
            return `rollout ${r.rollout?.id ?? ''} started`;
          });
        }}
      >
        <h3 id="rollout-start-title">Start a rollout</h3>
        <Field id="rollout-backends" label="New backends (one URL per line)" error={start.errors.backends}>
          <textarea
            id="rollout-backends"
            name="backends"
            rows={3}
            spellcheck={false}
            value={targets}
            onInput={(e) => setTargets((e.currentTarget as HTMLTextAreaElement).value)}
            {...described('rollout-backends', start.errors.backends)}
          />
        </Field>
        <div class="row">
          <InputField
            id="rollout-batch"
            name="batchSize"
            label="Batch size"
            type="number"
            min="1"
            error={start.errors.batchSize}
            value={batchSize}
            onValue={setBatchSize}
          />
          <InputField
            id="rollout-interval"
            name="interval"
            label="Observe each batch for"
            error={start.errors.interval}
            value={interval}
            onValue={setIntervalText}
          />
          <div class="field submit">
            <button type="submit" disabled={start.busy || running}>
              Start rollout
            </button>
          </div>
        </div>
        <FieldError id="rollout-form-error" message={start.errors.form} />
      </form>
    </section>
  );
}
