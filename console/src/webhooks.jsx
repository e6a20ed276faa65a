// Webhooks: create one (its signing secret shown once), test it, and see its deliveries with every attempt,
// redelivering one that ended.
import { useState } from 'preact/hooks';
import { all, del, get, patch, post } from './api.js';
import { listProfiles } from './profiles.jsx';
import { Badge, ErrorNote, Field, OnceSecret, When, useAction, useLoad, words } from './ui.jsx';

export function Webhooks() {
  const webhooks = useLoad(() => all('/webhooks', 'webhooks'), []);
  const [secret, setSecret] = useState(null);
  return (
    <section>
      <h1>Webhooks</h1>
      <ErrorNote error={webhooks.error} />
      {secret && <OnceSecret title={`Signing secret of ${secret.id}`} value={secret.secret} onDone={() => setSecret(null)} />}
      {webhooks.data && webhooks.data.length === 0 && <p class="muted">No webhook yet.</p>}
      <ul class="cards single" aria-label="Webhooks">
        {(webhooks.data || []).map((webhook) => <Webhook webhook={webhook} key={webhook.id} onChange={webhooks.reload} />)}
      </ul>
      <CreateWebhook onCreated={(created) => { setSecret(created); webhooks.reload(); }} />
    </section>
  );
}

function CreateWebhook({ onCreated }) {
  const profiles = useLoad(listProfiles, []);
  const [form, setForm] = useState({ url: '', profileId: '', events: '*', secret: '', description: '' });
  const { run, busy, error } = useAction();
  const set = (name) => (event) => setForm({ ...form, [name]: event.currentTarget.value });
  const submit = async (event) => {
    event.preventDefault();
    const created = await run(() => post('/webhooks', {
      url: form.url,
      profileId: form.profileId || undefined,
      events: words(form.events),
      secret: form.secret || undefined,
      description: form.description || undefined,
    }));
    if (created) {
      setForm({ ...form, url: '', secret: '', description: '' });
      onCreated(created);
    }
  };
  return (
    <form class="card form" onSubmit={submit} aria-label="Create a webhook">
      <h2>Create a webhook</h2>
      <div class="grid">
        <Field label="URL" hint="http(s); events are POSTed to it, signed">
          <input type="url" name="url" required value={form.url} onInput={set('url')} placeholder="https://example.com/hook" />
        </Field>
        <Field label="Profile">
          <select name="profileId" value={form.profileId} onChange={set('profileId')}>
            <option value="">every profile (global)</option>
            {(profiles.data || []).map((profile) => <option value={profile.id}>{profile.name} ({profile.id})</option>)}
          </select>
        </Field>
        <Field label="Events" hint="*, message.*, or names (session.status, message.ack, …), comma-separated">
          <input name="events" value={form.events} onInput={set('events')} />
        </Field>
        <Field label="Signing secret" hint="16+ characters; made for you when empty">
          <input name="secret" value={form.secret} onInput={set('secret')} />
        </Field>
        <Field label="Description"><input name="description" value={form.description} onInput={set('description')} /></Field>
      </div>
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>Create webhook</button>
    </form>
  );
}

function Webhook({ webhook, onChange }) {
  const { run, busy, error } = useAction();
  const [open, setOpen] = useState(false);
  const [round, setRound] = useState(0);
  const path = `/webhooks/${webhook.id}`;
  const test = () => run(async () => { await post(`${path}/test`); setOpen(true); setRound((n) => n + 1); });
  return (
    <li class="card webhook" data-webhook-id={webhook.id}>
      <div class="row">
        <span class="grow">
          <strong class="url">{webhook.url}</strong>
          <span class="muted small">{webhook.id} · {webhook.profileId || 'every profile'} · {webhook.events.join(', ')}
            {webhook.description && ` · ${webhook.description}`}</span>
        </span>
        <Badge value={webhook.active ? 'ACTIVE' : 'PAUSED'} />
      </div>
      <div class="actions">
        <button type="button" disabled={busy} onClick={test}>Send a test</button>
        <button type="button" class="secondary" onClick={() => setOpen(!open)}>{open ? 'Hide deliveries' : 'Deliveries'}</button>
        <button type="button" class="secondary" disabled={busy}
          onClick={() => run(async () => { await patch(path, { active: !webhook.active }); onChange(); })}>
          {webhook.active ? 'Pause' : 'Resume'}
        </button>
        <button type="button" class="danger" disabled={busy}
          onClick={() => window.confirm(`Delete webhook ${webhook.id}?`) && run(async () => { await del(path); onChange(); })}>Delete</button>
      </div>
      <ErrorNote error={error} />
      {open && <Deliveries webhookId={webhook.id} round={round} />}
    </li>
  );
}

function Deliveries({ webhookId, round }) {
  const [again, setAgain] = useState(0);
  const deliveries = useLoad(() => get(`/webhooks/${webhookId}/deliveries`, { pageSize: 20 }).then((page) => page.deliveries),
    [webhookId, round, again]);
  const { run, busy, error } = useAction();
  const redeliver = (id) => run(async () => { await post(`/webhooks/${webhookId}/deliveries/${id}/redeliver`); setAgain((n) => n + 1); });
  return (
    <div class="deliveries">
      <div class="row">
        <h3 class="grow">Deliveries</h3>
        <button type="button" class="secondary" onClick={() => setAgain((n) => n + 1)}>Refresh</button>
      </div>
      <ErrorNote error={deliveries.error || error} />
      {deliveries.data && deliveries.data.length === 0 && <p class="muted">No delivery yet.</p>}
      <ul class="rows" aria-label="Deliveries">
        {(deliveries.data || []).map((delivery) => (
          <li class="row delivery" data-delivery-id={delivery.id}>
            <span class="grow">
              <span><strong>{delivery.event}</strong> <span class="muted small">event #{delivery.eventId} · <When time={delivery.createTime} /></span></span>
              <ol class="attempts">
                {delivery.attempts.map((attempt) => (
                  <li>
                    <When time={attempt.time} /> · {attempt.httpStatus ? `HTTP ${attempt.httpStatus}` : 'not reached'}
                    {' · '}{attempt.latencyMs} ms
                    {attempt.responseExcerpt && <code class="data">{attempt.responseExcerpt}</code>}
                  </li>
                ))}
              </ol>
              {delivery.nextAttemptTime && <span class="muted small">next attempt <When time={delivery.nextAttemptTime} /></span>}
            </span>
            <Badge value={delivery.status} />
            {(delivery.status === 'DELIVERED' || delivery.status === 'FAILED') && (
              <button type="button" class="secondary" disabled={busy} onClick={() => redeliver(delivery.id)}>Redeliver</button>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
