// The profiles: their live statuses (from `session.status` events) and a form to create one.
import { useState } from 'preact/hooks';
import { all, post } from './api.js';
import { go, href } from './route.js';
import { Badge, ErrorNote, Field, useAction, useFollowed } from './ui.jsx';

export const listProfiles = () => all('/profiles', 'profiles');

/** The list after a session.status event; undefined (read it again) for a profile made elsewhere. */
function withStatus(list, event) {
  if (!list.some((profile) => profile.id === event.profileId)) return undefined;
  return list.map((profile) => (profile.id === event.profileId
    ? { ...profile, status: event.data.status, lastError: event.data.reason || '' } : profile));
}

export function Profiles() {
  const profiles = useFollowed({ events: ['session.status'], read: listProfiles, apply: withStatus });
  return (
    <section>
      <h1>Profiles</h1>
      <ErrorNote error={profiles.error} />
      {profiles.data && profiles.data.length === 0 && <p class="muted">No profile yet: create one below.</p>}
      <ul class="cards" aria-label="Profiles">
        {(profiles.data || []).map((profile) => (
          <li class="card profile-card" data-profile-id={profile.id}>
            <a href={href('profiles', profile.id)}><strong>{profile.name}</strong></a>
            <span class="muted">{profile.id} · {profile.engine.toLowerCase()}</span>
            {profile.phoneNumber && <span>{profile.phoneNumber}</span>}
            <Badge value={profile.status} />
            {profile.lastError && <span class="muted small">{profile.lastError}</span>}
          </li>
        ))}
      </ul>
      <CreateProfile onCreated={(profile) => go('profiles', profile.id)} />
    </section>
  );
}

const ENGINE_SETTINGS = {
  simulator: [['autoPair', 'The simulated phone scans the QR code by itself (after 3 s)', 'checkbox']],
  cloudapi: [
    ['token', 'Access token (Meta)', 'password'],
    ['phoneNumberId', 'Phone number id', 'text'],
    ['appSecret', 'App secret (checks Meta\'s webhook signatures)', 'password'],
    ['verifyToken', 'Webhook verify token', 'text'],
  ],
  whatsmeow: [],
};

const number = (value) => (value === '' ? 0 : Number(value));

function CreateProfile({ onCreated }) {
  const [form, setForm] = useState({
    id: '', name: '', engine: 'simulator', phoneNumber: '', minGapMs: '', jitterMs: '', dailyCap: '', settings: {},
  });
  const { run, busy, error } = useAction();
  const set = (name) => (event) => setForm({ ...form, [name]: event.currentTarget.value });
  const setSetting = (name, kind) => (event) => setForm({
    ...form,
    settings: { ...form.settings, [name]: kind === 'checkbox' ? event.currentTarget.checked : event.currentTarget.value },
  });
  const submit = async (event) => {
    event.preventDefault();
    const settings = Object.fromEntries(Object.entries(form.settings)
      .filter(([name, value]) => ENGINE_SETTINGS[form.engine].some(([known]) => known === name) && value !== ''));
    const created = await run(() => post('/profiles', {
      id: form.id.trim() || undefined,
      name: form.name,
      engine: form.engine,
      phoneNumber: form.phoneNumber.trim() || undefined,
      engineSettings: settings,
      sendLimits: { minGapMs: number(form.minGapMs), jitterMs: number(form.jitterMs), dailyCap: number(form.dailyCap) },
    }));
    if (created) onCreated(created);
  };
  return (
    <form class="card form" onSubmit={submit} aria-label="Create a profile">
      <h2>Create a profile</h2>
      <div class="grid">
        <Field label="Name"><input name="name" required value={form.name} onInput={set('name')} /></Field>
        <Field label="Id" hint="Optional: letters, digits, - and _ (made for you when empty)">
          <input name="id" value={form.id} onInput={set('id')} />
        </Field>
        <Field label="Engine">
          <select name="engine" value={form.engine} onChange={set('engine')}>
            <option value="simulator">simulator (a simulated WhatsApp, for trying things)</option>
            <option value="whatsmeow">whatsmeow (WhatsApp on a phone, linked by QR code)</option>
            <option value="cloudapi">cloudapi (the official WhatsApp Cloud API)</option>
          </select>
        </Field>
        <Field label="Phone number" hint="Optional; a QR login learns it">
          <input name="phoneNumber" value={form.phoneNumber} onInput={set('phoneNumber')} />
        </Field>
        {ENGINE_SETTINGS[form.engine].map(([name, label, kind]) => (kind === 'checkbox'
          ? (
            <label class="check">
              <input type="checkbox" name={name} checked={!!form.settings[name]} onChange={setSetting(name, kind)} />
              {label}
            </label>
          )
          : (
            <Field label={label}>
              <input type={kind} name={name} value={form.settings[name] || ''} onInput={setSetting(name, kind)} />
            </Field>
          )))}
      </div>
      <fieldset>
        <legend>Send limits (0 or empty: none)</legend>
        <div class="grid">
          <Field label="Minimum gap (ms)">
            <input type="number" min="0" name="minGapMs" value={form.minGapMs} onInput={set('minGapMs')} />
          </Field>
          <Field label="Jitter (ms)">
            <input type="number" min="0" name="jitterMs" value={form.jitterMs} onInput={set('jitterMs')} />
          </Field>
          <Field label="Daily cap">
            <input type="number" min="0" name="dailyCap" value={form.dailyCap} onInput={set('dailyCap')} />
          </Field>
        </div>
      </fieldset>
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>Create profile</button>
    </form>
  );
}
