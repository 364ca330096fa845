import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { fieldOf, messageOf } from './api';

/** Errors of one form, by field (`form` for those naming no field). */
export type FieldErrors = Readonly<Record<string, string>>;

/**
 * State of a form that calls the admin API: `run` clears the errors, calls,
 * and files a failure under the field its option path names.
 */
export function useAction(fields: readonly string[], onDone?: (message: string) => void) {
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  async function run(call: () => Promise<string>): Promise<boolean> {
    setErrors({});
    setBusy(true);
    try {
      const message = await call();
      onDone?.(message);
      return true;
    } catch (error) {
      setErrors({ [fieldOf(error, fields)]: messageOf(error) });
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { errors, busy, run, fail: (field: string, message: string) => setErrors({ [field]: message }) };
}

/** The error shown under a field, tied to it with `aria-describedby`. */
export function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return message ? (
    <p class="field-error" id={id} role="alert">
      {message}
    </p>
  ) : null;
}

/** A labelled field with its error underneath. */
export function Field({
  id,
  label,
  error,
  children,
  hint,
}: {
  id: string;
  label: string;
  error: string | undefined;
  hint?: string;
  children: ComponentChildren;
}) {
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      {children}
      {hint ? (
        <small class="hint" id={`${id}-hint`}>
          {hint}
        </small>
      ) : null}
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

/** `aria-describedby` / `aria-invalid` for an input with an optional hint and error. */
export function described(id: string, error: string | undefined, hint = false) {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { 'aria-describedby': ids || undefined, 'aria-invalid': error ? true : undefined };
}

/** A labelled one-line input with its error, for the forms' plain fields. */
export function InputField(props: {
  id: string;
  name: string;
  label: string;
  error: string | undefined;
  value: string;
  onValue: (value: string) => void;
  type?: 'text' | 'number';
  placeholder?: string;
  min?: string;
  step?: string;
}) {
  const { id, name, label, error, value, onValue, type = 'text', placeholder, min, step } = props;
  return (
    <Field id={id} label={label} error={error}>
      <input
        id={id}
        name={name}
        // Preact types each input type separately; both kinds take the same attributes here.
        type={type as 'text'}
        value={value}
        placeholder={placeholder}
        min={min}
        step={step}
        onInput={(e) => onValue((e.currentTarget as HTMLInputElement).value)}
        {...described(id, error)}
      />
    </Field>
  );
}
