// <hl-presence> — the agent's presence switch, always in the top bar: available, away (with a
// reason), wrap-up (with a countdown back to available), offline. Sent over /ws
// (set_presence); falls back to POST /api/presence; follows presence.changed events. It starts
// from the server's truth (GET /api/presence), never from what this browser remembers, and
// tells the console (window event `hl-presence`, detail: the state) so it can show a hint.
// Usage: <hl-presence></hl-presence>; window event `hl-set-presence` (detail: state) sets it.

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, t } from '../../lib/i18n.js';
import { notify, session } from '../../lib/session.js';

const STATES = ['available', 'away', 'wrap_up', 'offline'];
const REASONS = ['break', 'lunch', 'meeting', 'training', 'other'];
const WRAP_UP_SECONDS = 60;

class HlPresence extends HTMLElement {
  connectedCallback() {
    this.state = session.presence?.state || 'offline';
    this.reason = session.presence?.reason || 'break';
    this.draw();
    this.onEvent = (e) => {
      const ev = e.detail;
      if (ev.kind === 'presence.changed' && ev.payload && ev.payload.user_id === session.user.id) {
        this.apply(ev.payload.state, ev.payload.reason, false);
      }
    };
    this.onSet = (e) => this.set(e.detail);
    // After a reconnect the server may have set us offline (grace period): read it again.
    this.onHello = () => this.fetch();
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-set-presence', this.onSet);
    session.live.addEventListener('hello', this.onHello);
    this.fetch();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-set-presence', this.onSet);
    session.live.removeEventListener('hello', this.onHello);
    clearInterval(this.tick);
  }

  /** The server's truth: GET /api/presence (an agent's own row; a list for supervisors). */
  async fetch() {
    try {
      const res = await api.get('/api/presence');
      const rows = Array.isArray(res) ? res : res && Array.isArray(res.items) ? res.items : res ? [res] : [];
      const mine = rows.find((r) => r && r.user_id === session.user.id);
      this.apply(mine ? mine.state : 'offline', mine ? mine.reason : '', false);
    } catch {
      this.apply(this.state, this.reason, false);
    }
  }

  draw() {
    render(this, html`
      <label class="sr-only" for="presence">${t('presence.label')}</label>
      <select id="presence" class="state-${this.state}" title="${t('presence.label')}">
        ${STATES.includes(this.state) ? '' : html`<option value="${this.state}" selected disabled>${t('presence.' + this.state)}</option>`}
        ${STATES.map((s) => html`<option value="${s}" ${s === this.state ? 'selected' : ''}>${t('presence.' + s)}</option>`)}
      </select>
      <label class="sr-only" for="presence-reason">${t('presence.reason')}</label>
      <select id="presence-reason" ${this.state === 'away' ? '' : 'hidden'}>
        ${REASONS.map((r) => html`<option value="${r}" ${r === this.reason ? 'selected' : ''}>${t('presence.reason.' + r)}</option>`)}
      </select>
      <span class="countdown" id="wrap-countdown" aria-live="polite"></span>`);
    this.querySelector('#presence').addEventListener('change', (e) => this.set(e.target.value));
    this.querySelector('#presence-reason').addEventListener('change', (e) => {
      this.reason = e.target.value;
      this.set('away');
    });
    this.countdown();
  }

  async set(state) {
    const reason = state === 'away' ? this.reason : '';
    try {
      await session.live.command('set_presence', { state, reason });
    } catch (wsErr) {
      try {
        await api.post('/api/presence', { state, reason });
      } catch (e) {
        if (!e.missing) notify(`${t('presence.failed')}: ${errorText(e)}`, 'error');
        else if (wsErr.code !== 'disconnected') notify(`${t('presence.failed')}: ${errorText(wsErr)}`, 'error');
        else notify(t('presence.offline_only'));
      }
    }
    this.apply(state, reason, true);
  }

  apply(state, reason, mine) {
    if (state === 'wrap_up' && (mine || this.state !== 'wrap_up')) this.wrapUntil = Date.now() + WRAP_UP_SECONDS * 1000;
    this.state = state;
    if (reason) this.reason = reason;
    session.presence = { state, reason: this.reason };
    this.draw();
    window.dispatchEvent(new CustomEvent('hl-presence', { detail: state }));
  }

  countdown() {
    clearInterval(this.tick);
    const out = this.querySelector('#wrap-countdown');
    if (this.state !== 'wrap_up' || !this.wrapUntil) {
      out.textContent = '';
      return;
    }
    const show = () => {
      const left = Math.ceil((this.wrapUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(this.tick);
        this.set('available');
        return;
      }
      out.textContent = t('presence.wrap_left', { s: left });
    };
    show();
    this.tick = setInterval(show, 1000);
  }
}

customElements.define('hl-presence', HlPresence);
