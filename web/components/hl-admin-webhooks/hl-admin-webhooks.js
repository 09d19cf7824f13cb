// <hl-admin-webhooks> — admins register the endpoints that hear what happens (a CRM, a shop, a
// chat room): url, the event types, enabled; the secret is shown once when an endpoint is made
// (receivers check `X-Hotline-Signature: t=…,v1=…`, an HMAC-SHA256 of `t.body`). Each endpoint's
// delivery log shows status, attempts, the receiver's answer and times, with a re-send button
// (GET/POST /api/webhooks, PATCH/DELETE /api/webhooks/{id}, GET …/deliveries, POST …/resend).
// Usage: <hl-admin-webhooks></hl-admin-webhooks> (the console's #/admin/webhooks).

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, t } from '../../lib/i18n.js';
import { notify } from '../../lib/session.js';

/** The event types an endpoint may choose (the server's list). */
const EVENT_TYPES = [
  'ticket.created', 'ticket.updated', 'ticket.resolved',
  'complaint.created', 'complaint.updated', 'complaint.transitioned',
  'survey.answered', 'call.ended', 'customer.tier_changed',
];

class HlAdminWebhooks extends HTMLElement {
  connectedCallback() {
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  async load() {
    try {
      this.items = (await api.get('/api/webhooks')).items;
      if (this.open) this.log = (await api.get(`/api/webhooks/${this.open}/deliveries`)).items;
      this.error = null;
    } catch (e) {
      this.error = errorText(e);
    }
    this.draw();
  }

  draw() {
    const items = this.items || [];
    const open = items.find((w) => w.id === this.open);
    render(this, html`
      <h1>${t('wh.title')}</h1>
      <p class="muted small">${t('wh.hint')}</p>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      ${this.secret ? html`<p class="card" id="wh-secret" role="status">${t('wh.secret_once')} <code>${this.secret}</code></p>` : ''}
      ${items.length ? html`<table class="list" id="wh-rows"><thead><tr>
          <th>${t('wh.url')}</th><th>${t('wh.events')}</th><th>${t('wh.enabled')}</th><th></th></tr></thead>
        <tbody>${items.map((w) => html`<tr data-webhook="${w.id}">
          <td><code>${w.url}</code></td>
          <td class="small">${w.event_types.join(', ')}</td>
          <td><input type="checkbox" data-enable="${w.id}" ${w.enabled ? 'checked' : ''} aria-label="${t('wh.enabled')}"></td>
          <td class="nowrap">
            <button type="button" class="small" data-log="${w.id}">${t('wh.log')}</button>
            <button type="button" class="small danger" data-remove="${w.id}">${t('wh.remove')}</button></td></tr>`)}</tbody></table>`
        : html`<p class="empty" id="wh-empty">${t('wh.empty')}</p>`}
      ${open ? html`<section id="wh-log"><h2>${t('wh.log_of', { url: open.url })}</h2>
        ${(this.log || []).length ? html`<table class="list"><thead><tr>
          <th>${t('wh.event')}</th><th>${t('wh.status')}</th><th>${t('wh.attempts')}</th><th>${t('wh.code')}</th>
          <th>${t('wh.when')}</th><th></th></tr></thead>
          <tbody>${this.log.map((d) => html`<tr data-delivery="${d.id}">
            <td><code class="small">${d.event_type}</code></td>
            <td><span class="badge ${d.status}">${t('wh.state.' + d.status)}</span>
              ${d.last_error ? html`<div class="muted small">${d.last_error}</div>` : ''}</td>
            <td>${d.attempts}</td>
            <td>${d.response_code ?? '—'}</td>
            <td class="small">${fmtDateTime(d.delivered_at || d.last_attempt_at || d.created_at)}
              ${d.status === 'pending' && d.next_attempt_at ? html`<div class="muted">${t('wh.next', { at: fmtDateTime(d.next_attempt_at) })}</div>` : ''}</td>
            <td><button type="button" class="small" data-resend="${d.id}">${t('wh.resend')}</button></td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('wh.no_deliveries')}</p>`}</section>` : ''}
      <form id="wh-new" class="card">
        <h2>${t('wh.new')}</h2>
        <label>${t('wh.url')} <input name="url" type="url" required placeholder="https://crm.example.com/hooks/hotline" style="width:100%"></label>
        <p class="small">${t('wh.events')}</p>
        <div class="checks" id="wh-events">${EVENT_TYPES.map((e) => html`
          <label class="check" title="${e}"><input type="checkbox" name="event" value="${e}">${t('wh.event.' + e)}</label>`)}</div>
        <label>${t('wh.secret')} <input name="secret" type="text" minlength="16" maxlength="200" autocomplete="off" placeholder="${t('wh.secret_hint')}" style="width:100%"></label>
        <button type="submit" class="primary" id="wh-create">${t('wh.create')}</button>
      </form>`);
    this.querySelector('#wh-new').addEventListener('submit', (e) => this.create(e));
    for (const b of this.querySelectorAll('[data-enable]')) {
      b.addEventListener('change', () => this.act(() => api.patch(`/api/webhooks/${b.dataset.enable}`, { enabled: b.checked })));
    }
    for (const b of this.querySelectorAll('[data-log]')) {
      b.addEventListener('click', () => {
        this.open = Number(b.dataset.log);
        this.load();
      });
    }
    for (const b of this.querySelectorAll('[data-remove]')) {
      b.addEventListener('click', () => {
        if (!window.confirm(t('wh.confirm_remove'))) return;
        if (this.open === Number(b.dataset.remove)) this.open = null;
        this.act(() => api.del(`/api/webhooks/${b.dataset.remove}`));
      });
    }
    for (const b of this.querySelectorAll('[data-resend]')) {
      b.addEventListener('click', () => this.act(() => api.post(`/api/webhooks/${this.open}/deliveries/${b.dataset.resend}/resend`, {}), 'wh.resent'));
    }
  }

  async create(e) {
    e.preventDefault();
    const form = e.target;
    const event_types = [...form.querySelectorAll('[name=event]:checked')].map((c) => c.value);
    if (!event_types.length) {
      notify(t('wh.pick_events'), 'error');
      return;
    }
    try {
      const secret = form.secret.value.trim();
      const w = await api.post('/api/webhooks', { url: form.url.value.trim(), event_types, ...(secret ? { secret } : {}) });
      this.secret = w.secret;
      notify(t('wh.created'));
    } catch (err) {
      notify(errorText(err), 'error');
    }
    this.load();
  }

  async act(call, done) {
    try {
      await call();
      if (done) notify(t(done));
    } catch (e) {
      notify(errorText(e), 'error');
    }
    this.load();
  }
}

customElements.define('hl-admin-webhooks', HlAdminWebhooks);
