// A test message of any of the seven kinds, sent as the REST API's POST /api/messages/<type>.
import { useState } from 'preact/hooks';
import { post } from './api.js';
import { ErrorNote, Field, useAction } from './ui.jsx';

const TYPES = ['text', 'image', 'video', 'document', 'location', 'contact', 'poll'];
const MEDIA = new Set(['image', 'video', 'document']);

/** A file's bytes as base64, for the API's inline `media.data`. */
const base64Of = (file) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => resolve(String(reader.result).split(',', 2)[1]);
  reader.onerror = () => reject(reader.error);
  reader.readAsDataURL(file);
});

async function bodyOf(type, form) {
  switch (type) {
    case 'text':
      return { text: form.text };
    case 'location':
      return {
        location: {
          latitude: Number(form.latitude), longitude: Number(form.longitude), name: form.name, address: form.address,
        },
      };
    case 'contact':
      return { contact: { fullName: form.fullName, phoneNumber: form.phoneNumber } };
    case 'poll':
      return {
        poll: {
          question: form.question,
          options: (form.options || '').split('\n').map((line) => line.trim()).filter(Boolean),
          allowMultipleAnswers: !!form.allowMultipleAnswers,
        },
      };
    default: { // image, video, document: a chosen file inline, or a URL the gateway downloads
      const media = form.file
        ? { data: await base64Of(form.file), mimetype: form.file.type || undefined, filename: form.file.name }
        : { url: form.url };
      if (type !== 'document') delete media.filename;
      return { media, caption: form.caption || undefined };
    }
  }
}

export function SendMessage({ profileId, onSent }) {
  const [type, setType] = useState('text');
  const [chatId, setChatId] = useState('');
  const [form, setForm] = useState({});
  const { run, busy, error } = useAction();
  const set = (name) => (event) => {
    const input = event.currentTarget;
    const value = input.type === 'checkbox' ? input.checked : input.type === 'file' ? input.files[0] : input.value;
    setForm({ ...form, [name]: value });
  };
  const submit = async (event) => {
    event.preventDefault();
    const sent = await run(async () => post(`/messages/${type}`, { profileId, chatId, ...(await bodyOf(type, form)) }));
    if (sent) onSent(sent);
  };
  return (
    <form class="form" onSubmit={submit} aria-label="Send a test message">
      <div class="grid">
        <Field label="To" hint="A number in any form (+62 812-…), or a chat id (…@c.us, …@g.us)">
          <input name="chatId" required value={chatId} onInput={(event) => setChatId(event.currentTarget.value)} />
        </Field>
        <Field label="Kind">
          <select name="type" value={type} onChange={(event) => setType(event.currentTarget.value)}>
            {TYPES.map((name) => <option value={name}>{name}</option>)}
          </select>
        </Field>
      </div>
      {type === 'text' && (
        <Field label="Text"><textarea name="text" required rows="3" value={form.text || ''} onInput={set('text')} /></Field>
      )}
      {MEDIA.has(type) && (
        <div class="grid">
          <Field label="File" hint="Sent inline (base64)">
            <input type="file" name="file" onChange={set('file')} />
          </Field>
          <Field label="…or URL" hint="The gateway downloads it">
            <input type="url" name="url" value={form.url || ''} onInput={set('url')} disabled={!!form.file} />
          </Field>
          <Field label="Caption"><input name="caption" value={form.caption || ''} onInput={set('caption')} /></Field>
        </div>
      )}
      {type === 'location' && (
        <div class="grid">
          <Field label="Latitude"><input name="latitude" type="number" step="any" required value={form.latitude || ''} onInput={set('latitude')} /></Field>
          <Field label="Longitude"><input name="longitude" type="number" step="any" required value={form.longitude || ''} onInput={set('longitude')} /></Field>
          <Field label="Name"><input name="name" value={form.name || ''} onInput={set('name')} /></Field>
          <Field label="Address"><input name="address" value={form.address || ''} onInput={set('address')} /></Field>
        </div>
      )}
      {type === 'contact' && (
        <div class="grid">
          <Field label="Full name"><input name="fullName" required value={form.fullName || ''} onInput={set('fullName')} /></Field>
          <Field label="Phone number"><input name="phoneNumber" required value={form.phoneNumber || ''} onInput={set('phoneNumber')} /></Field>
        </div>
      )}
      {type === 'poll' && (
        <div class="grid">
          <Field label="Question"><input name="question" required value={form.question || ''} onInput={set('question')} /></Field>
          <Field label="Options" hint="One per line">
            <textarea name="options" rows="3" required value={form.options || ''} onInput={set('options')} />
          </Field>
          <label class="check">
            <input type="checkbox" name="allowMultipleAnswers" checked={!!form.allowMultipleAnswers} onChange={set('allowMultipleAnswers')} />
            More than one answer
          </label>
        </div>
      )}
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>Send {type}</button>
    </form>
  );
}
