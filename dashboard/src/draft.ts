import { useState } from 'preact/hooks';

/** A field the user edits over a value that the periodic refresh keeps replacing. */
export interface Draft {
  /** What the field shows: the user's edit while there is one, the server's value otherwise. */
  readonly value: string;
  /** The user has edited the field since it was last applied or reset. */
  readonly edited: boolean;
  /** The server's value changed (a refresh, another operator) after the user started editing. */
  readonly changedMeanwhile: boolean;
  /** Records the user's edit (keeping the server's value it started from). */
  edit(value: string): void;
  /** The edit was applied: it stays on show until a refresh brings the server's new value. */
  applied(): void;
  /** Drops the edit (reset, another section chosen): the field follows the server again. */
  reset(): void;
}

interface State {
  readonly value: string;
  /** The server's value when the edit began. */
  readonly base: string;
  readonly applied: boolean;
}

/**
 * The text of a field is worked out while it renders (the server's value, or
 * the user's edit once there is one), never copied into state by an effect:
 * so no refresh, whenever it lands (even between a keystroke and an effect
 * run after it), overwrites an edit before it is applied or reset.
 */
export function useDraft(server: string): Draft {
  const [draft, setDraft] = useState<State | undefined>(undefined);
  // An applied edit gives way to the server's value as soon as a refresh shows it changed.
  const live = draft && !(draft.applied && draft.base !== server) ? draft : undefined;
  const editing = live !== undefined && !live.applied;
  return {
    value: live?.value ?? server,
    edited: editing,
    changedMeanwhile: editing && live.base !== server,
    edit: (value) => setDraft((old) => ({ value, base: old && !old.applied ? old.base : server, applied: false })),
    applied: () => setDraft((old) => old && { ...old, applied: true }),
    reset: () => setDraft(undefined),
  };
}
