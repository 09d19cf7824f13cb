// <hl-customer-view> — the 360 view of one customer: who (exact, "maybe" with candidates, or
// unknown with a new-customer form), tier, identities, open tickets and complaints, the timeline
// of every call, email, SMS and note on all channels (paged), editing, and a new ticket.
// Usage: <hl-customer-view customer-id="7"></hl-customer-view>, or element.showView(view360),
// or element.showPop({view, from, call_id}) for a ringing call's screen pop.

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { fmtDateTime, t } from '../../lib/i18n.js';
import { notify, session } from '../../lib/session.js';

const ICONS = { voice: '📞', email: '✉️', sms: '💬', web: '🌐', note: '📝' };
const TIERS = ['vip', 'key', 'regular', 'low'];
const KINDS = ['phone', 'email', 'id_card', 'vip_card', 'crm'];

class HlCustomerView extends HTMLElement {
  connectedCallback() {
    this.editing = false;
    this.onLocale = () => this.draw();
    this.onEvent = (e) => {
      const ev = e.detail;
      if (this.view && this.view.customer && ev.customer_id === this.view.customer.id && ev.kind !== 'screen_pop') this.soon();
    };
    window.addEventListener('hl-locale', this.onLocale);
    window.addEventListener('hl-event', this.onEvent);
    const id = this.getAttribute('customer-id');
    if (id) this.load(Number(id));
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
    window.removeEventListener('hl-event', this.onEvent);
  }

  soon() {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.load(this.view.customer.id), 400);
  }

  async load(id) {
    try {
      this.showView(await api.get(`/api/customers/${id}`));
    } catch (e) {
      render(this, html`<p class="error" role="alert">${e.status === 404 ? t('customer.not_found') : e.message}</p>`);
    }
  }

  showView(view) {
    this.view = view;
    this.draw();
  }

  showPop(pop) {
    this.pop = pop;
    this.showView(pop.view);
    // Articles for the call's ticket go to the knowledge panel, as for an open ticket.
    if (pop.ticket_id) {
      api.optional(`/api/tickets/${pop.ticket_id}/suggestions`)
        .then((s) => s && window.dispatchEvent(new CustomEvent('hl-suggestions', { detail: { ticketId: pop.ticket_id, hits: s.hits || [] } })))
        .catch(() => {});
    }
  }

  draw() {
    const v = this.view;
    if (!v) return;
    const c = v.customer;
    const pop = this.pop;
    render(this, html`
      ${pop ? html`<div class="panel" style="margin-bottom:1rem;border-color:var(--brand)" role="status" id="screen-pop">
        <strong>📞 ${t('pop.call_from', { from: pop.from || (c && c.identities[0] ? c.identities[0].value : '') })}</strong>
        <span class="muted"> · ${fmtDateTime(pop.at_ms || Date.now())}</span>
        ${pop.ticket_id ? html` · <a href="#/ticket/${pop.ticket_id}">#${pop.ticket_id}</a>` : ''}</div>` : ''}
      ${c ? this.known(v, c) : this.unknown(v)}`);
    this.wire();
  }

  known(v, c) {
    return html`
      <section class="who-card panel" aria-labelledby="customer-name">
        <header>
          <h1 id="customer-name">${c.display_name}</h1>
          <span class="badge ${c.tier}" id="customer-tier">${t('tier.' + c.tier)}</span>
          <span class="badge ${v.match}" id="match-quality">${t('match.' + v.match)}${v.matched_by && t('matched_by.' + v.matched_by) ? ` · ${t('matched_by.' + v.matched_by)}` : ''}</span>
          <span class="grow"></span>
          <button type="button" id="edit-customer">${t('customer.edit')}</button>
          <button type="button" class="primary" id="new-ticket">${t('customer.new_ticket')}</button>
        </header>
        <div class="idents">${c.identities.map((i) => html`<span class="ident" title="${t('identity.' + i.kind)}">${i.value}</span>`)}</div>
        ${c.notes ? html`<p class="small">${c.notes}</p>` : ''}
        ${c.tags.length ? html`<div class="row">${c.tags.map((tag) => html`<span class="badge">${tag}</span>`)}</div>` : ''}
        ${v.open_complaints ? html`<div class="alert" id="open-complaints">${t('customer.open_complaints', { n: v.open_complaints })}</div>` : ''}
        ${this.editing ? this.editForm(c) : ''}
      </section>
      ${v.candidates && v.candidates.length ? this.candidates(v) : ''}
      <div class="cols" style="margin-top:1rem">
        <section class="panel" aria-labelledby="open-h">
          <h2 id="open-h">${t('customer.open_tickets')} (${v.open_tickets.length})</h2>
          ${v.open_tickets.length ? html`<ul class="timeline" id="open-tickets">${v.open_tickets.map((x) => html`
            <li><span class="ch" aria-hidden="true">${ICONS[x.channel] || '•'}</span>
              <div><a href="#/ticket/${x.id}">#${x.id} ${x.subject}</a>
                <div class="small"><span class="badge ${x.status}">${t('status.' + x.status)}</span>
                  ${x.kind === 'complaint' ? html` <span class="badge complaint">${t('kind.complaint')}</span>` : ''}
                  ${x.assignee_id ? html` · ${session.userName(x.assignee_id)}` : ''}</div></div>
              <span class="small muted">${fmtDateTime(x.updated_at)}</span></li>`)}</ul>` : html`<p class="empty">${t('customer.no_open')}</p>`}
        </section>
        <section class="panel" aria-labelledby="hist-h">
          <h2 id="hist-h">${t('customer.history')}</h2>
          ${v.history.length ? html`<ul class="timeline" id="history">${v.history.map((h) => html`
            <li><span class="ch" title="${t('channel.' + h.channel)}">${ICONS[h.channel] || '•'}</span>
              <div><div class="small"><strong>${t('direction.' + h.direction)}</strong> · ${t('channel.' + h.channel)}
                · <a href="#/ticket/${h.ticket_id}">#${h.ticket_id}</a>${h.subject ? html` · ${h.subject}` : ''}</div>
                <div class="preview">${h.preview}</div></div>
              <span class="small muted">${fmtDateTime(h.created_at)}</span></li>`)}</ul>
            ${v.history_next ? html`<button type="button" id="more-history">${t('customer.more_history')}</button>` : ''}`
            : html`<p class="empty">${t('customer.no_history')}</p>`}
        </section>
      </div>`;
  }

  candidates(v) {
    return html`<section class="panel" style="margin-top:1rem" aria-labelledby="cand-h">
      <h2 id="cand-h">${t('customer.candidates')}</h2>
      <ul class="timeline">${v.candidates.map((c) => html`<li><span class="ch">👤</span>
        <div><a href="#/customer/${c.id}">${c.display_name}</a> <span class="badge ${c.tier}">${t('tier.' + c.tier)}</span>
          <div class="small muted">${c.identities.map((i) => i.value).join(' · ')}</div></div><span></span></li>`)}</ul></section>`;
  }

  unknown(v) {
    const pre = v.prefill || {};
    return html`
      ${v.candidates && v.candidates.length ? html`<div class="panel" style="margin-bottom:1rem"><span class="badge maybe">${t('match.maybe')}</span></div>${this.candidates(v)}` : ''}
      <section class="panel" aria-labelledby="unknown-h" style="margin-top:1rem">
        <h1 id="unknown-h"><span class="badge unknown">${t('match.unknown')}</span> ${t('customer.unknown_title')}</h1>
        <p class="muted">${t('customer.unknown_help')}</p>
        <form id="new-customer" class="form-grid">
          <label>${t('customer.name')}<input name="display_name" required></label>
          <label>${t('customer.tier')}<select name="tier">${TIERS.map((x) => html`<option value="${x}" ${x === 'regular' ? 'selected' : ''}>${t('tier.' + x)}</option>`)}</select></label>
          <label>${t('identity.kind')}<select name="kind">${KINDS.map((k) => html`<option value="${k}" ${k === (pre.kind || 'phone') ? 'selected' : ''}>${t('identity.' + k)}</option>`)}</select></label>
          <label>${t('identity.value')}<input name="value" value="${pre.value || ''}"></label>
          <div class="row" style="align-self:end"><button class="primary" type="submit">${t('customer.create')}</button></div>
        </form>
      </section>`;
  }

  editForm(c) {
    return html`<form id="edit-form" class="form-grid" style="border-top:1px solid var(--line);padding-top:.75rem">
      <label>${t('customer.name')}<input name="display_name" value="${c.display_name}" required></label>
      <label>${t('customer.tier')}<select name="tier">${TIERS.map((x) => html`<option value="${x}" ${x === c.tier ? 'selected' : ''}>${t('tier.' + x)}</option>`)}</select></label>
      <label>${t('customer.language')}<input name="language" value="${c.language || ''}" placeholder="zh / en"></label>
      <label>${t('ticket.tags')}<input name="tags" value="${c.tags.join(', ')}"></label>
      <label style="grid-column:1/-1">${t('customer.notes')}<textarea name="notes" rows="3">${c.notes}</textarea></label>
      <label>${t('identity.kind')}<select name="kind">${KINDS.map((k) => html`<option value="${k}">${t('identity.' + k)}</option>`)}</select></label>
      <label>${t('customer.add_identity')}<input name="value" placeholder="${t('customer.add_identity_hint')}"></label>
      <div class="row" style="align-self:end"><button class="primary" type="submit">${t('common.save')}</button>
        <button type="button" id="cancel-edit">${t('common.cancel')}</button></div>
    </form>`;
  }

  wire() {
    this.querySelector('#edit-customer')?.addEventListener('click', () => {
      this.editing = !this.editing;
      this.draw();
    });
    this.querySelector('#cancel-edit')?.addEventListener('click', () => {
      this.editing = false;
      this.draw();
    });
    this.querySelector('#edit-form')?.addEventListener('submit', (e) => this.save(e));
    this.querySelector('#new-customer')?.addEventListener('submit', (e) => this.create(e));
    this.querySelector('#new-ticket')?.addEventListener('click', () => this.newTicket());
    this.querySelector('#more-history')?.addEventListener('click', () => this.more());
  }

  async save(e) {
    e.preventDefault();
    const f = e.target;
    const id = this.view.customer.id;
    try {
      await api.patch(`/api/customers/${id}`, {
        display_name: f.display_name.value,
        tier: f.tier.value,
        language: f.language.value.trim() || null,
        notes: f.notes.value,
        tags: f.tags.value.split(',').map((s) => s.trim()).filter(Boolean),
      });
      if (f.value.value.trim()) await api.post(`/api/customers/${id}/identities`, { kind: f.kind.value, value: f.value.value.trim() });
      this.editing = false;
      notify(t('common.saved'));
      this.load(id);
    } catch (x) {
      notify(x.field ? `${t('common.field')} ${x.field}: ${x.message}` : x.message, 'error');
    }
  }

  async create(e) {
    e.preventDefault();
    const f = e.target;
    try {
      const c = await api.post('/api/customers', {
        display_name: f.display_name.value,
        tier: f.tier.value,
        identities: f.value.value.trim() ? [{ kind: f.kind.value, value: f.value.value.trim() }] : [],
      });
      notify(t('customer.created'));
      const ticketId = this.pop && this.pop.ticket_id;
      if (ticketId) await api.patch(`/api/tickets/${ticketId}`, { customer_id: c.id }).catch(() => {});
      this.pop = this.pop ? { ...this.pop, view: await api.get(`/api/customers/${c.id}`) } : null;
      if (this.pop) this.showPop(this.pop);
      else location.hash = `#/customer/${c.id}`;
    } catch (x) {
      notify(x.field ? `${t('common.field')} ${x.field}: ${x.message}` : x.message, 'error');
    }
  }

  async newTicket() {
    const c = this.view.customer;
    const subject = prompt(t('customer.new_ticket_subject'), this.pop ? t('pop.call_subject', { name: c.display_name }) : '');
    if (!subject) return;
    try {
      const x = await api.post('/api/tickets', {
        subject,
        customer_id: c.id,
        channel: this.pop ? 'voice' : 'note',
        assignee_id: session.user.id,
      });
      location.hash = `#/ticket/${x.id}`;
    } catch (e) {
      notify(e.message, 'error');
    }
  }

  async more() {
    const v = this.view;
    try {
      const page = await api.get(`/api/customers/${v.customer.id}/history?before=${encodeURIComponent(v.history_next)}`);
      v.history = v.history.concat(page.items);
      v.history_next = page.next;
      this.draw();
    } catch (e) {
      notify(e.message, 'error');
    }
  }
}

customElements.define('hl-customer-view', HlCustomerView);
