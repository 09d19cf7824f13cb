// <hl-system-status> — the channels at a glance for admins (GET /api/system/status): SMTP
// listener, IMAP poller (last poll, last error), Twilio and CTI configured or not, outbox backlog
// and failures, quarantined mail, and this node (database, routing leader, version, uptime).
// Each part with something to act on links to where it is done (e.g. the quarantined mail list
// with retry). Refreshes every 15 s while shown.
// Usage: <hl-system-status></hl-system-status> (the console shows it at #/admin/system).

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, fmtDateTime, fmtDuration, t, tOr } from '../../lib/i18n.js';
import { runChange } from '../../lib/admin.js';

/** A part's state: the `status` it reports (ok, warning, error, off), else read from its fields. */
function stateOf(part) {
  const given = part.status || part.state;
  if (given) return given === 'warn' ? 'warning' : given;
  if (part.configured === false || part.enabled === false) return 'off';
  if (part.last_error && (!part.last_ok_at || (part.last_error_at || 0) > part.last_ok_at)) return 'error';
  if (part.listening === false || part.ok === false) return 'error';
  if (part.failed > 0 || part.quarantined > 0 || part.count > 0) return 'warning';
  return 'ok';
}

function valueText(key, v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'boolean') return v ? t('system.yes') : t('system.no');
  if (typeof v === 'number' && /(_at|_ms)$/.test(key) && v > 1e11) return fmtDateTime(v);
  if (typeof v === 'number' && /secs$/.test(key)) return fmtDuration(v);
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${tOr('system.field.' + k, enumText('channel', k) || k)}: ${typeof x === 'object' ? JSON.stringify(x) : x}`).join(' · ');
  return String(v);
}

class HlSystemStatus extends HTMLElement {
  connectedCallback() {
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
    this.timer = setInterval(() => this.load(), 15000);
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
    clearInterval(this.timer);
  }

  async load() {
    try {
      this.status = await api.get('/api/system/status');
      this.error = null;
    } catch (e) {
      this.error = e;
    }
    try {
      // The quarantined mail, to retry from here (admins; empty when none).
      this.quarantined = await api.get('/api/email/inbound?status=quarantined&limit=20');
    } catch {
      this.quarantined = null;
    }
    // #/admin/system?outbox=email: that channel's messages waiting or failed.
    const channel = this.dataset.outbox;
    if (channel === 'email' || channel === 'sms') {
      try {
        const [failed, pending] = await Promise.all([
          api.get(`/api/system/outbox?channel=${channel}&status=failed&limit=50`),
          api.get(`/api/system/outbox?channel=${channel}&status=pending&limit=50`),
        ]);
        this.outbox = { channel, items: [...failed, ...pending] };
      } catch (e) {
        this.outbox = { channel, error: e };
      }
    }
    this.draw();
    if (this.dataset.status === 'quarantined' && !this.scrolled) {
      // #/admin/mail?status=quarantined: straight to the quarantined mail.
      this.scrolled = true;
      this.querySelector('#quarantine')?.scrollIntoView();
    }
  }

  draw() {
    const s = this.status;
    // Parts are the objects; a group of parts (outbox: email, sms) shows each as its own card.
    const parts = [];
    for (const [key, v] of s ? Object.entries(s) : []) {
      if (!v || typeof v !== 'object' || Array.isArray(v)) continue;
      const sub = Object.entries(v).filter(([, x]) => x && typeof x === 'object' && !Array.isArray(x));
      if (!('status' in v) && sub.length && sub.length === Object.keys(v).length) {
        for (const [k, x] of sub) parts.push([`${key}.${k}`, x]);
      } else parts.push([key, v]);
    }
    const plain = s ? Object.entries(s).filter(([, v]) => v === null || typeof v !== 'object') : [];
    render(this, html`
      <div class="admin-head"><h1>${t('system.title')}</h1>
        <button type="button" id="system-refresh">${t('system.refresh')}</button></div>
      ${this.error ? html`<p class="error" role="alert" id="system-error">${this.error.missing ? t('common.not_available') : errorText(this.error)}</p>` : ''}
      ${s ? html`<div class="status-grid" id="system-parts">
        ${parts.map(([key, part]) => {
          const state = stateOf(part);
          return html`<section class="panel status-card ${state}" data-part="${key}" aria-labelledby="sys-${key.replace('.', '-')}">
            <header><h2 id="sys-${key.replace('.', '-')}">${tOr('system.part.' + key, key)}</h2>
              <span class="badge ${state}" data-state="${state}">${t('system.state.' + state)}</span></header>
            <dl>${Object.entries(part).filter(([k]) => !['link', 'state', 'status'].includes(k)).map(([k, v]) => html`<dt>${tOr('system.field.' + k, k)}</dt><dd>${valueText(k, v)}</dd>`)}</dl>
            ${/^#?\//.test(part.link || '') ? html`<a href="${part.link}" data-link="${key}">${t('system.act')}</a>` : ''}
          </section>`;
        })}
        ${plain.length ? html`<section class="panel status-card" data-part="node" aria-labelledby="sys-node"><header><h2 id="sys-node">${t('system.part.node')}</h2></header>
          <dl>${plain.map(([k, v]) => html`<dt>${tOr('system.field.' + k, k)}</dt><dd>${valueText(k, v)}</dd>`)}</dl></section>` : ''}
      </div>` : this.error ? '' : html`<p class="muted">${t('common.loading')}</p>`}
      ${this.outbox ? html`<section class="panel admin-panel" id="outbox" aria-labelledby="o-h">
        <h2 id="o-h">${t('system.outbox', { channel: enumText('channel', this.outbox.channel) })}</h2>
        ${this.outbox.error ? html`<p class="error">${this.outbox.error.missing ? t('common.not_available') : errorText(this.outbox.error)}</p>`
          : this.outbox.items.length ? html`<table class="list" id="outbox-list"><thead><tr><th>${t('system.o_created')}</th><th>${t('system.o_recipient')}</th>
            <th>${t('system.o_status')}</th><th>${t('system.o_attempts')}</th><th>${t('system.o_error')}</th></tr></thead>
          <tbody>${this.outbox.items.map((o) => html`<tr><td class="nowrap small">${fmtDateTime(o.created_at)}</td><td>${o.recipient}</td>
            <td class="nowrap">${o.status}</td><td class="num">${o.attempts}</td><td class="small">${o.last_error || ''}
            ${o.ticket_id ? html` <a href="#/ticket/${o.ticket_id}">#${o.ticket_id}</a>` : ''}</td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('system.o_none')}</p>`}
      </section>` : ''}
      ${this.quarantined ? html`<section class="panel admin-panel" id="quarantine" aria-labelledby="q-h">
        <h2 id="q-h">${t('system.quarantined')}</h2>
        ${this.quarantined.length ? html`<table class="list" id="quarantine-list"><thead><tr><th>${t('system.q_received')}</th><th>${t('system.q_from')}</th>
            <th>${t('system.q_to')}</th><th>${t('system.q_reason')}</th><th></th></tr></thead>
          <tbody>${this.quarantined.map((m) => html`<tr data-inbound="${m.id}"><td class="nowrap small">${fmtDateTime(m.created_at)}</td>
            <td>${m.envelope_from}</td><td>${m.envelope_to}</td><td class="small">${m.error || ''}</td>
            <td class="nowrap"><a class="button small" href="/api/email/inbound/${m.id}/raw" download>${t('system.q_raw')}</a>
              <button type="button" class="small" data-retry="${m.id}">${t('system.q_retry')}</button></td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('system.q_none')}</p>`}
      </section>` : ''}`);
    this.querySelector('#system-refresh').onclick = () => this.load();
    for (const b of this.querySelectorAll('[data-retry]')) {
      b.onclick = () => runChange(() => api.post(`/api/email/inbound/${b.dataset.retry}/retry`), () => this.load(), t('system.q_retried'));
    }
  }
}

customElements.define('hl-system-status', HlSystemStatus);
