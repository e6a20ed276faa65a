// What every view shares: the session (live events, sign-out), loading and acting with the API's errors shown
// as the envelope's message, and a few small presentational pieces.
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';

/** The signed-in session: `live` (LiveEvents) and `signOut(message)`. */
export const Session = createContext(null);

export const useSession = () => useContext(Session);

/** Hands an error on to the session when it means the key no longer holds (before signing in there is none). */
function useErrorSink() {
  const session = useSession();
  return useCallback((error) => {
    if (error?.code === 'UNAUTHORIZED' && session) session.signOut(error.message);
  }, [session]);
}

/**
 * Data loaded by `load()` (again when `deps` change, or on `reload()`): {data, setData, error, loading, reload}.
 */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const [round, setRound] = useState(0);
  const sink = useErrorSink();
  useEffect(() => {
    let current = true;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => current && setState({ data, error: null, loading: false }),
      (error) => {
        sink(error);
        if (current) setState((previous) => ({ ...previous, error, loading: false }));
      },
    );
    return () => { current = false; };
  }, [...deps, round]);
  const setData = useCallback((update) => setState((previous) => ({
    ...previous, data: typeof update === 'function' ? update(previous.data) : update,
  })), []);
  return { ...state, setData, reload: useCallback(() => setRound((n) => n + 1), []) };
}

/** Runs one action at a time: {run(fn), busy, error, clear()}. `run` answers fn's result, or undefined if it failed. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const sink = useErrorSink();
  const run = useCallback(async (action) => {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (failure) {
      sink(failure);
      setError(failure);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, [sink]);
  return { run, busy, error, clear: useCallback(() => setError(null), []) };
}

/** Follows live events while the view is shown (see LiveEvents.subscribe); handlers may change between renders. */
function useLiveEvents({ profileId = '', events = ['*'], onEvent, onReady, onLost }) {
  const { live } = useSession();
  const handlers = useRef({});
  handlers.current = { onEvent, onReady, onLost };
  useEffect(() => live.subscribe({
    profileId,
    events,
    onEvent: (event) => handlers.current.onEvent?.(event),
    onReady: (head, resumed) => handlers.current.onReady?.(head, resumed),
    onLost: () => handlers.current.onLost?.(),
  }), [live, profileId, events.join(',')]);
}

/**
 * State read from the API and kept current by live events, with no event missed in between: it is read when the
 * subscription starts (again when a reconnect could not resume it), events that arrive during the read are applied
 * on top of it, and while there is no socket it is read anyway. `apply(data, event)` answers the new state, or
 * undefined to have it read again. Returns {data, setData, error, reload}; `onReady` and `onEvent` are also told.
 */
export function useFollowed({ profileId = '', events = ['*'], read, apply, onReady, onEvent }) {
  const [state, setState] = useState({ data: undefined, error: null });
  const data = useRef(undefined); // the state as last set, for the handlers below
  const during = useRef(null); // events that came while a read was under way
  const reads = useRef(0);
  const sink = useErrorSink();
  const show = useCallback((update) => {
    data.current = typeof update === 'function' ? update(data.current) : update;
    setState({ data: data.current, error: null });
  }, []);
  const reload = () => {
    const round = ++reads.current;
    during.current = [];
    read().then((answer) => {
      if (round !== reads.current) return;
      const caught = during.current.reduce((current, event) => current && apply(current, event), answer);
      during.current = null;
      if (caught === undefined) reload();
      else show(caught);
    }, (error) => {
      sink(error);
      if (round !== reads.current) return;
      during.current = null;
      setState((previous) => ({ ...previous, error }));
    });
  };
  useLiveEvents({
    profileId,
    events,
    onReady: (head, resumed) => {
      if (!resumed) reload();
      onReady?.(head, resumed);
    },
    onLost: () => {
      if (data.current === undefined && during.current === null) reload();
    },
    onEvent: (event) => {
      onEvent?.(event);
      if (during.current) during.current.push(event);
      else if (data.current !== undefined) {
        const next = apply(data.current, event);
        if (next === undefined) reload();
        else show(next);
      }
    },
  });
  return { ...state, setData: show, reload };
}

/** An error from the API, as the person should read it: the envelope's message, and its code. */
export function ErrorNote({ error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.code && <span class="code">{error.code}</span>} {error.message}
    </p>
  );
}

export function Badge({ value }) {
  return <span class={`badge badge-${String(value).toLowerCase()}`}>{value}</span>;
}

export function When({ time }) {
  if (!time) return <span class="muted">—</span>;
  const date = new Date(time);
  return <time dateTime={time} title={date.toISOString()}>{date.toLocaleString()}</time>;
}

export function Field({ label, hint, children }) {
  return (
    <div class="field">
      <label>
        <span class="label">{label}</span>
        {children}
      </label>
      {hint && <span class="hint">{hint}</span>}
    </div>
  );
}

/** A secret shown once (a new API key, a webhook's signing secret), with a copy button. */
export function OnceSecret({ title, value, onDone }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="secret" role="status">
      <strong>{title}</strong>
      <p class="hint">Shown only this once: keep it now.</p>
      <code class="secret-value">{value}</code>
      <div class="actions">
        <button type="button" onClick={() => navigator.clipboard.writeText(value).then(() => setCopied(true))}>
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" class="secondary" onClick={onDone}>Done</button>
      </div>
    </div>
  );
}

/** The words of a comma- or space-separated list. */
export const words = (text) => text.split(/[\s,]+/).filter(Boolean);
