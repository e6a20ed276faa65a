// The console's frame: the API key first, then the views, with one live-events socket for all of them.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { apiKey, get } from './api.js';
import { Bulk } from './bulk.jsx';
import { Keys } from './keys.jsx';
import { LiveEvents } from './live.js';
import { Profile } from './profile.jsx';
import { Profiles } from './profiles.jsx';
import { href, useRoute } from './route.js';
import { ErrorNote, Field, Session, useAction } from './ui.jsx';
import { Webhooks } from './webhooks.jsx';

// What the live-events socket is doing (LiveEvents' states), as the header says it.
const LIVE_STATES = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  refused: 'refused',
  forbidden: 'no live updates: the key lacks events:read',
};

const VIEWS = [
  ['profiles', 'Profiles'],
  ['bulk', 'Bulk'],
  ['webhooks', 'Webhooks'],
  ['keys', 'API keys'],
];

export function App() {
  const [key, setKey] = useState(apiKey.get);
  const [farewell, setFarewell] = useState(null);
  const signIn = (entered) => {
    apiKey.set(entered);
    setFarewell(null);
    setKey(entered);
  };
  const signOut = (message) => {
    apiKey.clear();
    setFarewell(message ? { code: 'UNAUTHORIZED', message } : null);
    setKey('');
  };
  return key ? <Console key={key} apiKeyValue={key} signOut={signOut} />
    : <SignIn onSignIn={signIn} farewell={farewell} />;
}

function SignIn({ onSignIn, farewell }) {
  const [entered, setEntered] = useState('');
  const { run, busy, error } = useAction();
  const submit = async (event) => {
    event.preventDefault();
    const key = entered.trim();
    // A first call with the key proves it before the console opens.
    if (await run(() => get('/profiles', { pageSize: 1 }, { key }).then(() => true))) onSignIn(key);
  };
  return (
    <main class="signin">
      <form class="card" onSubmit={submit}>
        <h1>WA Gateway console</h1>
        <p>Enter an API key: the one <code>make run</code> printed, or one from
          {' '}<code>python -m server.cli keys create</code>. It stays in this browser tab only.</p>
        <Field label="API key">
          <input type="password" name="apiKey" autocomplete="off" required placeholder="wagw_…"
            value={entered} onInput={(event) => setEntered(event.currentTarget.value)} />
        </Field>
        <ErrorNote error={error || farewell} />
        <button type="submit" disabled={busy}>Open the console</button>
        <p class="hint"><a href="/docs">API reference (/docs)</a></p>
      </form>
    </main>
  );
}

function Console({ apiKeyValue, signOut }) {
  const [state, setState] = useState('connecting');
  const live = useMemo(() => new LiveEvents(apiKeyValue, { onState: setState, onRefused: signOut }), [apiKeyValue]);
  useEffect(() => () => live.close(), [live]);
  const session = useMemo(() => ({ live, signOut }), [live]);
  const [view, ...rest] = useRoute();
  const current = VIEWS.some(([name]) => name === view) ? view : 'profiles';
  return (
    <Session.Provider value={session}>
      <header class="top">
        <a class="brand" href={href('profiles')}>WA Gateway</a>
        <nav>
          {VIEWS.map(([name, title]) => (
            <a href={href(name)} aria-current={name === current ? 'page' : undefined}>{title}</a>
          ))}
          <a href="/docs" target="_blank" rel="noopener">Docs</a>
        </nav>
        <span class={`live live-${state}`} title="Live events over /ws">{LIVE_STATES[state]}</span>
        <button type="button" class="secondary" onClick={() => signOut()}>Sign out</button>
      </header>
      <main class="view">
        {current === 'profiles' && (rest[0] ? <Profile key={rest[0]} id={rest[0]} /> : <Profiles />)}
        {current === 'bulk' && <Bulk />}
        {current === 'webhooks' && <Webhooks />}
        {current === 'keys' && <Keys />}
      </main>
    </Session.Provider>
  );
}
