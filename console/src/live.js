// Live events over the WebSocket API (`/ws`, README "Events by WebSocket"): one socket per console, one
// subscription per view that wants events. Nothing here polls: statuses, QR codes and receipts arrive as events.
//
// When the socket drops (the gateway restarted, the network blinked) it is opened again, and each subscription
// is made again with `since` = the last event id it saw, so the gateway replays what it missed. A close with 4401
// means the key no longer holds: the console then asks for a key again. With 4403 the key may not read events
// (no `events:read`): the console goes on without live updates, and says so.
//
// A view reads its state from the API when its subscription starts (`onReady(head, resumed)` with resumed false):
// then every change after that read arrives as an event. While there is no socket (`onLost`), it reads anyway.

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;

export class LiveEvents {
  /**
   * @param {string} key the API key (sent as ?apiKey=: browsers cannot set headers on a WebSocket)
   * @param {{onState: (state: string) => void, onRefused: (message: string) => void}} callbacks
   */
  constructor(key, { onState, onRefused }) {
    this.key = key;
    this.onState = onState;
    this.onRefused = onRefused;
    this.subscriptions = new Map(); // local id → subscription
    this.requests = new Map(); // requestId → subscription
    this.numbers = 0;
    this.retryMs = RETRY_FIRST_MS;
    this.closed = false;
    this.lost = false; // the socket closed and is not back (yet)
    this.open();
  }

  open() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${window.location.host}/ws?apiKey=${encodeURIComponent(this.key)}`);
    this.socket = socket;
    this.ready = false;
    this.onState('connecting');
    socket.onmessage = (message) => this.receive(JSON.parse(message.data));
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.ready = false;
      this.requests.clear();
      for (const subscription of this.subscriptions.values()) subscription.serverId = null;
      if (this.closed) return;
      this.lost = true;
      for (const subscription of this.subscriptions.values()) subscription.onLost?.();
      if (close.code === 4401) {
        this.closed = true;
        this.onState('refused');
        this.onRefused(this.refusal || 'the API key was refused');
        return;
      }
      if (close.code === 4403) {
        this.closed = true;
        this.onState('forbidden');
        return;
      }
      this.onState('reconnecting');
      this.timer = setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    };
  }

  receive(frame) {
    if (frame.type === 'ack' && frame.requestId === undefined) {
      // The connection is accepted: (re)make every subscription.
      this.ready = true;
      this.lost = false;
      this.retryMs = RETRY_FIRST_MS;
      this.onState('live');
      for (const subscription of this.subscriptions.values()) this.send(subscription);
    } else if (frame.type === 'ack' && this.requests.has(frame.requestId)) {
      const subscription = this.requests.get(frame.requestId);
      this.requests.delete(frame.requestId);
      subscription.serverId = frame.payload.subscriptionId;
      if (subscription.lastId === null) subscription.lastId = frame.payload.since;
      subscription.onReady?.(frame.payload.since, subscription.resuming);
    } else if (frame.type === 'event') {
      const subscription = [...this.subscriptions.values()].find((item) => item.serverId === frame.subscriptionId);
      if (!subscription) return;
      subscription.lastId = frame.payload.id;
      subscription.onEvent(frame.payload);
    } else if (frame.type === 'error') {
      const subscription = this.requests.get(frame.requestId)
        || [...this.subscriptions.values()].find((item) => item.serverId && item.serverId === frame.subscriptionId);
      if (subscription) subscription.onError?.(frame.payload);
      else this.refusal = frame.payload.message; // the connection's own refusal, before its close
    }
  }

  send(subscription) {
    const requestId = `r${++this.numbers}`;
    this.requests.set(requestId, subscription);
    const payload = { profileId: subscription.profileId || undefined, events: subscription.events };
    // Resumed where it stopped (the gateway replays what came meanwhile), or started afresh (the view reads).
    subscription.resuming = subscription.lastId !== null;
    if (subscription.resuming) payload.since = subscription.lastId;
    this.socket.send(JSON.stringify({ type: 'subscribe', requestId, payload }));
  }

  /**
   * Follows events of one profile (or all the key may see) matching `events` (`*`, `message.*`, names) from now
   * on. `onReady(head, resumed)` tells the id the subscription started after, and whether it resumed from the last
   * event it saw (nothing was missed) or started afresh; `onLost()` that there is no socket for now. Returns the
   * function that ends it.
   */
  subscribe({ profileId = '', events = ['*'], onEvent, onReady, onLost, onError }) {
    const id = ++this.numbers;
    const subscription = { profileId, events, onEvent, onReady, onLost, onError, lastId: null, serverId: null };
    this.subscriptions.set(id, subscription);
    if (this.ready) this.send(subscription);
    else if (this.lost || this.closed) queueMicrotask(() => this.subscriptions.has(id) && onLost?.());
    return () => {
      this.subscriptions.delete(id);
      if (this.ready && subscription.serverId) {
        this.socket.send(JSON.stringify({ type: 'unsubscribe', payload: { subscriptionId: subscription.serverId } }));
      }
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.socket.close();
  }
}
