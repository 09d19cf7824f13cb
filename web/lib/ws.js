// LiveClient: the console's /ws connection. Reconnects with backoff, resumes from the last seq
// it saw (kept in sessionStorage, so a reload loses nothing either) and drops duplicates.
// Usage:
//   const live = new LiveClient('/ws');
//   live.addEventListener('event', (e) => e.detail.kind ...);   // also 'queue_stats', 'resync',
//   live.addEventListener('status', (e) => e.detail);           // 'connecting' | 'live' | 'offline'
//   live.start(); await live.command('set_presence', { state: 'available' });

const STORE_KEY = 'hotline.last_seq';
// The close code of a socket whose session ended (see the ws protocol in the README).
const SESSION_ENDED = 4001;

export class LiveClient extends EventTarget {
  constructor(path = '/ws') {
    super();
    this.path = path;
    this.socket = null;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.status = 'offline';
    this.stopped = true;
    this.hello = null;
    const saved = sessionStorage.getItem(STORE_KEY);
    this.lastSeq = saved === null ? null : Number(saved);
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}${this.path}`;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    this.setStatus('offline');
  }

  forget() {
    this.lastSeq = null;
    sessionStorage.removeItem(STORE_KEY);
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: status }));
  }

  connect() {
    clearTimeout(this.timer);
    this.setStatus('connecting');
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.onmessage = (m) => this.receive(m.data);
    socket.onclose = (e) => {
      if (this.socket !== socket) return;
      this.socket = null;
      for (const [, p] of this.pending) p.reject(Object.assign(new Error('disconnected'), { code: 'disconnected' }));
      this.pending.clear();
      this.setStatus('offline');
      if (e.code === SESSION_ENDED) {
        // Signed out (here or elsewhere), deactivated, or the password changed: retrying would
        // only be refused; show the sign-in form instead, as a 401 from the API does.
        this.stopped = true;
        window.dispatchEvent(new CustomEvent('hl-unauthenticated'));
        return;
      }
      if (!this.stopped) this.retry();
    };
  }

  retry(afterMs) {
    // Exponential backoff with jitter, so that a restarted server is not hit by every console at once.
    const base = Math.min(30000, 500 * 2 ** Math.min(this.attempt, 6));
    const delay = afterMs ?? base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case 'hello':
        this.attempt = 0;
        this.hello = frame;
        if (this.lastSeq !== null && this.lastSeq <= frame.last_seq) {
          this.command('resume', { last_seq: this.lastSeq }).catch(() => {});
        } else {
          this.remember(frame.last_seq);
        }
        this.setStatus('live');
        this.dispatchEvent(new CustomEvent('hello', { detail: frame }));
        break;
      case 'event':
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
        this.remember(frame.seq);
        this.dispatchEvent(new CustomEvent('event', { detail: frame }));
        break;
      case 'queue_stats':
        this.dispatchEvent(new CustomEvent('queue_stats', { detail: frame }));
        break;
      case 'resync':
        // Reload by REST (listeners), then reconnect without resume, as the protocol asks.
        this.forget();
        this.dispatchEvent(new CustomEvent('resync', { detail: frame }));
        this.attempt = 0;
        if (this.socket) this.socket.close();
        break;
      case 'shutdown':
        if (this.socket) {
          const s = this.socket;
          this.socket = null;
          s.close();
          this.setStatus('offline');
          this.retry(frame.reconnect_after_ms ?? 1000);
        }
        break;
      case 'ack':
      case 'error': {
        const p = this.pending.get(frame.id);
        if (!p) return;
        this.pending.delete(frame.id);
        clearTimeout(p.timer);
        if (frame.type === 'ack') p.resolve(frame.result);
        else p.reject(Object.assign(new Error(frame.message), { code: frame.code }));
        break;
      }
      default:
        break;
    }
  }

  remember(seq) {
    this.lastSeq = seq;
    sessionStorage.setItem(STORE_KEY, String(seq));
  }

  /** Sends a command; resolves with the ack's result or rejects with the error's code. */
  command(type, fields = {}) {
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(Object.assign(new Error('not connected'), { code: 'disconnected' }));
        return;
      }
      const id = String(this.nextId++);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error('no answer'), { code: 'timeout' }));
      }, 10000);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ type, id, ...fields }));
    });
  }
}
