// Bulk sends: a message template and a pasted list of recipients, then the batch's progress as it goes, read
// from its watch stream (GET /api/bulk/batch/{id}/watch, NDJSON), with a cancel button.
import { useEffect, useState } from 'preact/hooks';
import { get, post, stream } from './api.js';
import { recipients } from './csv.js';
import { listProfiles } from './profiles.jsx';
import { Badge, ErrorNote, Field, When, useAction, useLoad } from './ui.jsx';

const FINISHED = new Set(['COMPLETED', 'CANCELLED', 'FAILED']);

export function Bulk() {
  const [batchId, setBatchId] = useState('');
  const batches = useLoad(() => get('/bulk/batches', { pageSize: 10 }).then((page) => page.batches), [batchId]);
  return (
    <section>
      <h1>Bulk</h1>
      <StartBulk onStarted={(batch) => setBatchId(batch.id)} />
      {batchId && (
        <Batch id={batchId} key={batchId}
          onChange={(batch) => batches.setData((list) => list && list.map((item) => (item.id === batch.id ? batch : item)))} />
      )}
      <div class="card">
        <h2>Recent batches</h2>
        <ErrorNote error={batches.error} />
        {batches.data && batches.data.length === 0 && <p class="muted">No batch yet.</p>}
        <ul class="rows" aria-label="Recent batches">
          {(batches.data || []).map((batch) => (
            <li class="row">
              <span class="grow">
                <strong>{batch.id}</strong>
                <span class="muted small">{batch.profileId} · {batch.progress.total} messages · <When time={batch.createTime} /></span>
              </span>
              <Badge value={batch.status} />
              <button type="button" class="secondary" onClick={() => setBatchId(batch.id)}>Watch</button>
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}

function StartBulk({ onStarted }) {
  const profiles = useLoad(listProfiles, []);
  const [form, setForm] = useState({
    profileId: '', text: 'Hello {name}!', list: 'phone,name\n', delay: '1000', randomizeDelay: false, stopOnError: false,
  });
  const { run, busy, error } = useAction();
  const set = (name) => (event) => {
    const input = event.currentTarget;
    setForm({ ...form, [name]: input.type === 'checkbox' ? input.checked : input.value });
  };
  const profileId = form.profileId || profiles.data?.[0]?.id || '';
  const submit = async (event) => {
    event.preventDefault();
    const batch = await run(() => {
      let list;
      try {
        list = recipients(form.list);
      } catch (problem) {
        throw Object.assign(problem, { code: 'VALIDATION_ERROR' });
      }
      return post('/bulk/send', {
        profileId,
        messages: list.map(({ chatId, variables }) => ({ chatId, type: 'text', content: { text: form.text }, variables })),
        options: {
          delayBetweenMessages: Number(form.delay || 0), randomizeDelay: form.randomizeDelay, stopOnError: form.stopOnError,
        },
      });
    });
    if (batch) onStarted(batch);
  };
  return (
    <form class="card form" onSubmit={submit} aria-label="Start a bulk send">
      <h2>Start a bulk send</h2>
      <ErrorNote error={profiles.error} />
      <div class="grid">
        <Field label="Profile">
          <select name="profileId" value={profileId} onChange={set('profileId')} required>
            {(profiles.data || []).map((profile) => (
              <option value={profile.id}>{profile.name} ({profile.id}, {profile.status})</option>
            ))}
          </select>
        </Field>
        <Field label="Gap between messages (ms)">
          <input type="number" min="0" max="3600000" name="delay" value={form.delay} onInput={set('delay')} />
        </Field>
      </div>
      <Field label="Message" hint="{name} is replaced by the list's column of that name">
        <textarea name="text" rows="2" required value={form.text} onInput={set('text')} />
      </Field>
      <Field label="Recipients (CSV)" hint="First line: the column names, the number first (phone,name,…); then one line per recipient">
        <textarea name="list" rows="6" required class="mono" value={form.list} onInput={set('list')} />
      </Field>
      <div class="actions">
        <label class="check"><input type="checkbox" name="randomizeDelay" checked={form.randomizeDelay} onChange={set('randomizeDelay')} /> Randomize the gap (+0–50%)</label>
        <label class="check"><input type="checkbox" name="stopOnError" checked={form.stopOnError} onChange={set('stopOnError')} /> Stop at the first failure</label>
      </div>
      <ErrorNote error={error} />
      <button type="submit" disabled={busy || !profileId}>Start</button>
    </form>
  );
}

function Batch({ id, onChange }) {
  const [batch, setBatch] = useState(null);
  const [error, setError] = useState(null);
  const cancel = useAction();
  useEffect(() => {
    const stop = new AbortController();
    const show = (batch) => {
      setBatch(batch);
      onChange(batch);
    };
    // The watch stream's first object is the batch as it is now; then one per change, to its end.
    stream(`/bulk/batch/${id}/watch`, {}, show, stop.signal).catch(setError);
    return () => stop.abort();
  }, [id]);
  if (!batch) return <div class="card"><ErrorNote error={error} /></div>;
  const { progress } = batch;
  const done = progress.total - progress.pending;
  const percent = progress.total ? Math.round((100 * done) / progress.total) : 100;
  return (
    <div class="card batch" data-batch-id={batch.id}>
      <h2>Batch {batch.id} <Badge value={batch.status} /></h2>
      <div class="progress" role="progressbar" aria-label="Batch progress" aria-valuemin="0" aria-valuemax="100"
        aria-valuenow={percent}>
        <div class="bar" style={{ width: `${percent}%` }} />
        <span class="percent">{percent}%</span>
      </div>
      <p class="counts">
        {['total', 'pending', 'sent', 'delivered', 'read', 'failed', 'cancelled'].map((name) => (
          <span>{name} <strong>{progress[name]}</strong></span>
        ))}
      </p>
      <p class="muted small">Started <When time={batch.startTime} /> · estimated end <When time={batch.estimatedEndTime} /></p>
      <ErrorNote error={error || cancel.error} />
      {!FINISHED.has(batch.status) && (
        <button type="button" class="danger" disabled={cancel.busy}
          onClick={() => cancel.run(async () => setBatch(await post(`/bulk/batch/${id}/cancel`)))}>Cancel</button>
      )}
    </div>
  );
}
