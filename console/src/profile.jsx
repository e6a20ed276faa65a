// One profile: its session (connect by QR code or pairing code, disconnect, log out, delete), test sends, and
// its recent messages and events, all kept current by the profile's live events.
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, get, post } from './api.js';
import { QrImage } from './qr.jsx';
import { go, href } from './route.js';
import { SendMessage } from './send.jsx';
import { Badge, ErrorNote, Field, When, useAction, useFollowed } from './ui.jsx';

const RECENT = 30;
// A message's status only moves forward (README, "Sending"): a late answer must not undo a receipt.
const PROGRESS = { PENDING: 0, SENT: 1, DELIVERED: 2, READ: 3, FAILED: 4, RECEIVED: 4 };
const CONNECTABLE = new Set(['DISCONNECTED', 'LOGGED_OUT', 'FAILED', 'BANNED']);
const RUNNING = new Set(['CONNECTING', 'QR_READY', 'CONNECTED', 'RECONNECTING']);

function upsert(messages, message) {
  const old = messages.find((item) => item.id === message.id);
  if (old && PROGRESS[old.status] > PROGRESS[message.status]) return messages;
  const others = messages.filter((item) => item.id !== message.id);
  return [message, ...others].sort((a, b) => (a.createTime < b.createTime ? 1 : -1)).slice(0, RECENT);
}

function mergeEvents(events, more) {
  const byId = new Map([...events, ...more].map((event) => [event.id, event]));
  return [...byId.values()].sort((a, b) => Number(b.id) - Number(a.id)).slice(0, RECENT);
}

/**
 * The profile's newest stored events up to `head` (where its live subscription starts). The log is read by
 * event id, oldest first, so windows before `head` grow until they hold enough (or reach the start).
 */
async function eventsBefore(profileId, head, want) {
  const last = Number(head);
  for (let width = 256; ; width *= 8) {
    const start = Math.max(0, last - width);
    const found = [];
    for (let since = start; ;) {
      const page = await get('/events', { profileId, since, pageSize: 1000 });
      found.push(...page.events.filter((event) => Number(event.id) <= last));
      if (page.events.length < 1000 || Number(page.lastId) >= last) break;
      since = page.lastId;
    }
    if (found.length >= want || start === 0) return found.slice(-want);
  }
}

export function Profile({ id }) {
  const path = `/profiles/${encodeURIComponent(id)}`;
  const [messages, setMessages] = useState(undefined);
  const [messagesError, setMessagesError] = useState(null);
  const [events, setEvents] = useState([]);
  const [eventsError, setEventsError] = useState(null);
  const [qr, setQr] = useState('');
  const [pairingCode, setPairingCode] = useState('');
  // How many session.status events came: an action's answer asked for before one of them is older than it.
  const statusEvents = useRef(0);

  const messagesAsked = useRef(false);
  const showMessage = (message) => setMessages((list) => upsert(list || [], message));
  const readMessages = () => {
    messagesAsked.current = true;
    get('/messages', { profileId: id, pageSize: RECENT })
      .then((page) => setMessages((list) => page.messages.reduce(upsert, list || [])), setMessagesError);
  };
  const profile = useFollowed({
    profileId: id,
    events: ['*'],
    read: () => get(path),
    apply: (current, event) => (event.event === 'session.status'
      ? { ...current, status: event.data.status, lastError: event.data.reason || '' } : current),
    // Started afresh (not resumed where it stopped): the messages and events of before, read from the API.
    onReady: (head, resumed) => {
      if (resumed) return;
      readMessages();
      eventsBefore(id, head, RECENT).then((stored) => setEvents((list) => mergeEvents(list, stored)), setEventsError);
    },
    onEvent: (event) => {
      setEvents((list) => mergeEvents(list, [event]));
      const { data } = event;
      if (event.event === 'session.status') {
        statusEvents.current += 1;
        profile.reload(); // the whole profile as it is now: its phone number once CONNECTED, whether it has a session
        if (data.status !== 'QR_READY') setQr('');
        if (data.status === 'CONNECTED') setPairingCode('');
      } else if (event.event === 'qr.updated') {
        if (data.qr) setQr(data.qr);
        if (data.pairingCode) setPairingCode(data.pairingCode);
      } else if (event.event === 'message.ack' || event.event === 'message.received') {
        get(`/messages/${data.messageId}`).then(showMessage, () => {});
      }
    },
  });
  // Without live events (no socket for now, or a key that may not read them), the messages are read all the same.
  useEffect(() => { if (profile.data && !messagesAsked.current) readMessages(); }, [profile.data]);
  /** Shows the profile an action answers (picked from the answer), unless a status event came meanwhile. */
  const track = async (request, pick = (answer) => answer) => {
    const seen = statusEvents.current;
    const answer = await request();
    if (statusEvents.current === seen) profile.setData(pick(answer));
    return answer;
  };

  if (!profile.data) {
    return profile.error
      ? <section><p><a href={href('profiles')}>← Profiles</a></p><ErrorNote error={profile.error} /></section>
      : <p class="muted">Loading…</p>;
  }
  const current = profile.data;
  return (
    <section class="profile">
      <p><a href={href('profiles')}>← Profiles</a></p>
      <h1>{current.name} <Badge value={current.status} /></h1>
      <p class="muted">{current.id} · {current.engine.toLowerCase()} {current.phoneNumber && `· ${current.phoneNumber}`}</p>
      <div class="columns">
        <div class="card">
          <h2>Session</h2>
          <SessionControls profile={current} track={track} qr={qr} setQr={setQr}
            pairingCode={pairingCode} setPairingCode={setPairingCode} />
        </div>
        <div class="card">
          <h2>Send a test message</h2>
          <SendMessage profileId={current.id} onSent={showMessage} />
        </div>
      </div>
      <div class="columns">
        <div class="card">
          <h2>Recent messages</h2>
          <ErrorNote error={messagesError} />
          <MessageList messages={messages || []} />
        </div>
        <div class="card">
          <h2>Recent events</h2>
          <ErrorNote error={eventsError} />
          <EventList events={events} />
        </div>
      </div>
    </section>
  );
}

function SessionControls({ profile, track, qr, setQr, pairingCode, setPairingCode }) {
  const { run, busy, error } = useAction();
  const [phone, setPhone] = useState('');
  const path = `/profiles/${encodeURIComponent(profile.id)}`;
  const showQr = async () => {
    const code = await get(`${path}/qr`).catch(() => null); // rotated meanwhile: the next qr.updated brings it
    if (code) setQr(code.qr);
  };
  // Opening a profile that is already waiting for a scan: its current code (later ones come as events).
  useEffect(() => { if (profile.status === 'QR_READY' && !qr) showQr(); }, [profile.id]);

  const connect = (phoneNumber) => run(async () => {
    const answer = await track(() => post(`${path}/connect`, phoneNumber ? { phoneNumber } : {}), (a) => a.profile);
    if (answer.pairingCode) setPairingCode(answer.pairingCode);
    if (answer.profile.status === 'QR_READY' && !qr) await showQr();
  });
  const act = (what) => run(() => track(() => post(`${path}/${what}`)));
  const remove = () => {
    if (!window.confirm(`Delete profile ${profile.id}, with its session, messages, contacts and webhooks?`)) return;
    run(async () => { await del(path); go('profiles'); });
  };
  return (
    <div class="session">
      {profile.lastError && <p class="muted">Last error: {profile.lastError}</p>}
      {profile.status === 'QR_READY' && qr && (
        <figure class="qr-box">
          <QrImage value={qr} />
          <figcaption>On the phone: WhatsApp → Linked devices → Link a device, and scan. The code renews itself.</figcaption>
        </figure>
      )}
      {pairingCode && profile.status !== 'CONNECTED' && (
        <p class="pairing">Pairing code: <strong class="pairing-code">{pairingCode}</strong><br />
          <span class="hint">On the phone: Linked devices → Link a device → Link with phone number instead.</span></p>
      )}
      <div class="actions">
        {CONNECTABLE.has(profile.status) && (
          <button type="button" disabled={busy} onClick={() => connect('')}>
            {profile.engine === 'CLOUDAPI' ? 'Connect' : 'Connect (QR code)'}
          </button>
        )}
        {RUNNING.has(profile.status) && (
          <button type="button" class="secondary" disabled={busy} onClick={() => act('disconnect')}>Disconnect</button>
        )}
        {(profile.status === 'CONNECTED' || profile.hasSession) && (
          <button type="button" class="secondary" disabled={busy} onClick={() => act('logout')}>Log out</button>
        )}
        <button type="button" class="danger" disabled={busy} onClick={remove}>Delete</button>
      </div>
      {CONNECTABLE.has(profile.status) && profile.engine !== 'CLOUDAPI' && (
        <form class="inline" onSubmit={(event) => { event.preventDefault(); connect(phone); }}>
          <Field label="…or link with a phone number (pairing code)">
            <input name="pairPhone" placeholder="+62 812-3456-789" value={phone} onInput={(event) => setPhone(event.currentTarget.value)} />
          </Field>
          <button type="submit" class="secondary" disabled={busy || !phone.trim()}>Get pairing code</button>
        </form>
      )}
      <ErrorNote error={error} />
      {profile.engine === 'SIMULATOR' && profile.status === 'CONNECTED' && <SimulatedContact profileId={profile.id} />}
    </div>
  );
}

/** Simulator profiles: a contact of the simulated WhatsApp writes to the profile, which receives it as any message. */
function SimulatedContact({ profileId }) {
  const [from, setFrom] = useState('+62 898-7654-321');
  const [text, setText] = useState('Hi! Is the shop open today?');
  const { run, busy, error } = useAction();
  const submit = (event) => {
    event.preventDefault();
    run(() => post(`/profiles/${encodeURIComponent(profileId)}/simulator/messages`, { phoneNumber: from, text }));
  };
  return (
    <form class="form simulated" onSubmit={submit} aria-label="A simulated contact writes">
      <h3>A simulated contact writes</h3>
      <div class="grid">
        <Field label="From"><input name="from" value={from} onInput={(event) => setFrom(event.currentTarget.value)} /></Field>
        <Field label="Message" hint="It arrives as any incoming message: message.received, webhooks">
          <input name="incoming" required value={text} onInput={(event) => setText(event.currentTarget.value)} />
        </Field>
      </div>
      <ErrorNote error={error} />
      <button type="submit" class="secondary" disabled={busy}>Receive it</button>
    </form>
  );
}

function summary(message) {
  const { content } = message;
  if (content.text) return content.text;
  if (content.caption) return content.caption;
  if (content.location) return `📍 ${content.location.name || `${content.location.latitude}, ${content.location.longitude}`}`;
  if (content.contact) return `👤 ${content.contact.fullName}`;
  if (content.poll) return `📊 ${content.poll.question}`;
  if (content.media) return content.media.filename || content.media.mimetype;
  return '';
}

function MessageList({ messages }) {
  if (!messages.length) return <p class="muted">No message yet.</p>;
  return (
    <ul class="rows" aria-label="Recent messages">
      {messages.map((message) => (
        <li class="row message" data-message-id={message.id}>
          <span class="direction" title={message.direction}>{message.direction === 'INBOUND' ? '←' : '→'}</span>
          <span class="grow">
            <span class="muted small">{message.direction === 'INBOUND' ? message.sender || message.chatId : message.chatId}
              {' · '}{message.type.toLowerCase()} · <When time={message.createTime} /></span>
            <span class="body">{summary(message)}</span>
            {message.error && <span class="error small">{message.error}</span>}
          </span>
          <Badge value={message.status} />
        </li>
      ))}
    </ul>
  );
}

function EventList({ events }) {
  if (!events.length) return <p class="muted">No event yet.</p>;
  return (
    <ul class="rows" aria-label="Recent events">
      {events.map((event) => (
        <li class="row event" data-event-id={event.id}>
          <span class="grow">
            <span><strong>{event.event}</strong> <span class="muted small">#{event.id} · <When time={event.timestamp} /></span></span>
            <code class="data">{JSON.stringify(event.data)}</code>
          </span>
        </li>
      ))}
    </ul>
  );
}
