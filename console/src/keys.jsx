// API keys: who may call the gateway. A new key is shown once; a key is revoked at once, or deleted.
import { useState } from 'preact/hooks';
import { all, del, post } from './api.js';
import { Badge, ErrorNote, Field, OnceSecret, When, useAction, useLoad, words } from './ui.jsx';

const DAY_MS = 86_400_000;

function state(key) {
  if (key.revokeTime) return 'REVOKED';
  if (key.expireTime && new Date(key.expireTime) <= new Date()) return 'EXPIRED';
  return 'ACTIVE';
}

export function Keys() {
  const keys = useLoad(() => all('/keys', 'apiKeys'), []);
  const [created, setCreated] = useState(null);
  const { run, busy, error } = useAction();
  const act = (question, action) => window.confirm(question) && run(async () => { await action(); keys.reload(); });
  return (
    <section>
      <h1>API keys</h1>
      <ErrorNote error={keys.error || error} />
      {created && <OnceSecret title={`New key ${created.apiKey.name}`} value={created.key} onDone={() => setCreated(null)} />}
      <ul class="rows card" aria-label="API keys">
        {(keys.data || []).map((key) => (
          <li class="row" data-key-id={key.id}>
            <span class="grow">
              <strong>{key.name}</strong> <code>wagw_{key.prefix}_…</code>
              <span class="muted small">{key.scopes.join(' ')} · {key.profileIds.length ? key.profileIds.join(', ') : 'every profile'}
                {' · last used '}<When time={key.lastUsedTime} />{key.expireTime && <> · expires <When time={key.expireTime} /></>}</span>
            </span>
            <Badge value={state(key)} />
            {state(key) === 'ACTIVE' && (
              <button type="button" class="secondary" disabled={busy}
                onClick={() => act(`Revoke ${key.name}? It stops working at once.`, () => post(`/keys/${key.id}/revoke`))}>Revoke</button>
            )}
            <button type="button" class="danger" disabled={busy}
              onClick={() => act(`Delete ${key.name}?`, () => del(`/keys/${key.id}`))}>Delete</button>
          </li>
        ))}
      </ul>
      <CreateKey onCreated={(answer) => { setCreated(answer); keys.reload(); }} />
    </section>
  );
}

function CreateKey({ onCreated }) {
  const [form, setForm] = useState({ name: '', scopes: 'messages:send messages:read', profiles: '', days: '' });
  const { run, busy, error } = useAction();
  const set = (name) => (event) => setForm({ ...form, [name]: event.currentTarget.value });
  const submit = async (event) => {
    event.preventDefault();
    const answer = await run(() => post('/keys', {
      name: form.name,
      scopes: words(form.scopes),
      profileIds: words(form.profiles),
      expireTime: form.days ? new Date(Date.now() + Number(form.days) * DAY_MS).toISOString() : undefined,
    }));
    if (answer) {
      setForm({ ...form, name: '' });
      onCreated(answer);
    }
  };
  return (
    <form class="card form" onSubmit={submit} aria-label="Create an API key">
      <h2>Create an API key</h2>
      <div class="grid">
        <Field label="Name"><input name="name" required value={form.name} onInput={set('name')} /></Field>
        <Field label="Scopes" hint="e.g. * or messages:send profiles:read bulk:send (README, Auth)">
          <input name="scopes" required value={form.scopes} onInput={set('scopes')} />
        </Field>
        <Field label="Profiles" hint="Profile ids it is limited to; empty: every profile">
          <input name="profiles" value={form.profiles} onInput={set('profiles')} />
        </Field>
        <Field label="Expires in (days)" hint="Empty: never">
          <input type="number" min="1" name="days" value={form.days} onInput={set('days')} />
        </Field>
      </div>
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>Create key</button>
    </form>
  );
}
