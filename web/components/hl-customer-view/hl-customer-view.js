// <hl-customer-view> — the 360 view of one customer: who (exact, "maybe" with candidates, or
// unknown with a new-customer form), tier, identities, open tickets and complaints, the timeline
// of every call, email, SMS and note on all channels (paged), editing, and a new ticket.
// Usage: <hl-customer-view customer-id="7"></hl-customer-view>, or element.showView(view360),
// or element.showPop({view, from, call_id, ticket_id}) for a ringing call's screen pop, which
// names the call's ticket and customer (and says so when a different offer is ringing).
// The new-ticket form keeps its draft per customer (lib/drafts.js) until it is sent. "Send SMS"
// starts an SMS conversation (POST /api/customers/{id}/sms) to one of the customer's numbers;
// a number that opted out (STOP, 退订) is shown as such and cannot be chosen.
// The value block (GET /api/customers/{id}/value) shows why the customer has their tier, the
// value score and service load, lifetime value and recent orders; supervisors may unpin a tier
// set by hand.

import { api } from '../../lib/api.js';
import { drafts } from '../../lib/drafts.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, fmtDateTime, subjectText, t } from '../../lib/i18n.js';
import { channelIcon, icon } from '../../lib/icons.js';
import { callCapabilities, callSummary, dial, dialButton } from '../../lib/calls.js';
import { notify, session } from '../../lib/session.js';
import { offerTicket, offerWho } from '../hl-offers/hl-offers.js';
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
    this.onOffers = () => this.pop && this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-offers-changed', this.onOffers);
    const id = this.getAttribute('customer-id');
    if (id) this.load(Number(id));
    callCapabilities().then((cap) => {
      this.cap = cap;
      if (this.view) this.draw();
    });
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-offers-changed', this.onOffers);
  }

  soon() {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.load(this.view.customer.id), 400);
  }

  async load(id) {
    try {
      this.showView(await api.get(`/api/customers/${id}`));
    } catch (e) {
      render(this, html`<p class="error" role="alert">${e.status === 404 ? t('customer.not_found') : errorText(e)}</p>`);
    }
  }

  showView(view) {
    this.keepNewTicket();
    const same = this.view && this.view.customer && view.customer && this.view.customer.id === view.customer.id;
    this.view = view;
    if (!same) {
      this.texting = false;
      this.smsNumbers = null;
      this.smsDraft = '';
    }
    // A new-ticket draft for this customer reopens its form.
    this.creating = (same && this.creating) || !!(view.customer && drafts.get(`new-ticket.${view.customer.id}`));
    if (!same) this.value = null;
    this.draw();
    if (view.customer) this.loadValue(view.customer.id);
  }

  async loadValue(id) {
    try {
      const value = await api.get(`/api/customers/${id}/value`);
      if (this.view && this.view.customer && this.view.customer.id === id) {
        this.value = value;
        this.draw();
      }
    } catch {
      // The block stays away; the rest of the page works.
    }
  }

  /** Why the customer has the tier, in the reader's language. */
  reasonText(r) {
    const share = r.code === 'vip' ? r.vip_share : r.key_share;
    return t('value.reason.' + r.code, { top: r.top_percent, months: r.months, share });
  }

  valueBlock(c) {
    const v = this.value;
    if (!v || v.customer_id !== c.id) return '';
    const f = v.figures;
    return html`<div class="value-block" id="customer-value">
        <p class="small"><span id="tier-reason">${v.reason ? this.reasonText(v.reason) : ''}</span>
          ${v.pinned ? html` <span class="badge" id="tier-pinned">${t('value.pinned')}</span>
            ${session.supervisor ? html`<button type="button" class="small" id="tier-unpin">${t('value.unpin')}</button>` : ''}` : ''}</p>
        <p class="small"><strong>${t('value.lifetime')}</strong>:
          <span id="lifetime-value">${v.lifetime_value.length ? v.lifetime_value.map((m) => `${m.currency} ${m.amount}`).join(' · ') : t('value.no_orders')}</span></p>
        ${f ? html`<p class="small" id="value-score">${t('value.score', { score: v.score, r: f.r, f: f.f, m: f.m })}</p>` : ''}
        <p class="small" id="service-load">${t('value.load', { months: v.window_months, contacts: v.contacts, complaints: v.complaints })}</p>
        ${v.recent_orders.length ? html`<details><summary>${t('value.recent_orders')} (${v.recent_orders.length})</summary>
          <ul class="timeline" id="recent-orders">${v.recent_orders.map((o) => html`
            <li data-order="${o.external_id}"><span class="ch">${o.currency}</span>
              <div><strong>${o.amount}</strong> · ${o.product || o.external_id}
                <span class="badge">${t('order.status.' + o.status)}</span></div>
              <span class="small muted">${fmtDateTime(o.ordered_at)}</span></li>`)}</ul></details>` : ''}
      </div>`;
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
    this.keepNewTicket();
    // A redraw (the customer changed elsewhere) keeps the SMS being written.
    const smsBody = this.querySelector('#sms-body');
    if (smsBody) this.smsDraft = smsBody.value;
    render(this, html`${this.pop ? this.popHead(c) : ''}${c ? this.known(v, c) : this.unknown(v)}`);
    const again = this.querySelector('#sms-body');
    if (again && this.smsDraft) again.value = this.smsDraft;
    this.wire();
  }

  /** Which call this pop is for: the number, the customer, its ticket, and its ringing offer. */
  popHead(c) {
    const pop = this.pop;
    const offers = [...(session.offers ? session.offers.values() : [])].filter((o) => o.channel === 'voice' && o.kind !== 'callback');
    const mine = offers.find((o) => (pop.offer_id && o.offer_id === pop.offer_id) || (pop.ticket_id && o.ticket_id === pop.ticket_id));
    const other = mine ? null : offers[0];
    const from = pop.from || (mine && mine.phone) || (c && c.identities[0] ? c.identities[0].value : '');
    const ticket = mine ? offerTicket(mine) : pop.ticket_id ? `#${pop.ticket_id}` : '';
    return html`<div class="panel pop-head" role="status" id="screen-pop" data-ticket="${pop.ticket_id ?? ''}" data-offer="${mine ? mine.offer_id : ''}">
        <strong>${icon('voice')} ${pop.direction === 'out' ? t('pop.call_to', { to: pop.to }) : t('pop.call_from', { from })}</strong>
        <span>· <span id="pop-customer">${c ? c.display_name : t('offer.unknown_customer')}</span></span>
        ${pop.ticket_id ? html`<span>· <a href="#/ticket/${pop.ticket_id}" id="pop-ticket">${ticket}</a></span>` : ''}
        <span class="muted">· ${fmtDateTime(pop.at_ms || Date.now())}</span>
        ${mine ? html`<span class="badge busy">${t('pop.ringing')}</span>` : ''}
        ${other ? html`<div class="alert small" id="pop-other">${t('pop.other_ringing', { who: offerWho(other), ticket: offerTicket(other) })}</div>` : ''}
      </div>`;
  }

  known(v, c) {
    return html`
      <section class="who-card panel" aria-labelledby="customer-name">
        <header>
          <h1 id="customer-name">${c.display_name}</h1>
          <span class="badge ${c.tier}" id="customer-tier">${t('tier.' + c.tier)}</span>
          <span class="badge ${v.match}" id="match-quality">${t('match.' + v.match)}${v.matched_by && t('matched_by.' + v.matched_by) ? ` · ${t('matched_by.' + v.matched_by)}` : ''}</span>
          <span class="grow"></span>
          ${dialButton('customer-dial', (c.identities.find((i) => i.kind === 'phone') || {}).value, this.cap, t('calls.dial_customer'))}
          <button type="button" id="edit-customer">${t('customer.edit')}</button>
          ${c.identities.some((i) => i.kind === 'phone') ? html`<button type="button" id="send-sms" aria-expanded="${this.texting ? 'true' : 'false'}">${icon('sms')} ${t('sms.send_title')}</button>` : ''}
          <button type="button" class="primary" id="new-ticket">${t('customer.new_ticket')}</button>
        </header>
        <div class="idents">${c.identities.map((i) => html`<span class="ident" title="${t('identity.' + i.kind)}">${i.value}</span>`)}</div>
        ${c.notes ? html`<p class="small">${c.notes}</p>` : ''}
        ${this.valueBlock(c)}
        ${c.tags.length ? html`<div class="row">${c.tags.map((tag) => html`<span class="badge">${tag}</span>`)}</div>` : ''}
        ${v.open_complaints ? html`<div class="alert" id="open-complaints">${t('customer.open_complaints', { n: v.open_complaints })}</div>` : ''}
        ${this.editing ? this.editForm(c) : ''}
        ${this.creating ? this.newTicketForm(c) : ''}
        ${this.texting ? this.smsForm() : ''}
      </section>
      ${v.candidates && v.candidates.length ? this.candidates(v) : ''}
      <div class="cols" style="margin-top:1rem">
        <section class="panel" aria-labelledby="open-h">
          <h2 id="open-h">${t('customer.open_tickets')} (${v.open_tickets.length})</h2>
          ${v.open_tickets.length ? html`<ul class="timeline" id="open-tickets">${v.open_tickets.map((x) => html`
            <li><span class="ch" title="${t('channel.' + x.channel)}">${channelIcon(x.channel)}</span>
              <div><a href="#/ticket/${x.id}">#${x.id} ${subjectText(x)}</a>
                <div class="small"><span class="badge ${x.status}">${t('status.' + x.status)}</span>
                  ${x.kind === 'complaint' ? html` <span class="badge complaint">${t('kind.complaint')}</span>` : ''}
                  ${x.assignee_id ? html` · ${session.userName(x.assignee_id)}` : ''}</div></div>
              <span class="small muted">${fmtDateTime(x.updated_at)}</span></li>`)}</ul>` : html`<p class="empty">${t('customer.no_open')}</p>`}
          <h2 id="scores-h">${t('customer.scores')}</h2>
          ${(v.recent_scores || []).length ? html`<ul class="timeline" id="recent-scores">${v.recent_scores.map((s) => html`
            <li data-score="${s.score}"><span class="ch score ${s.score <= 2 ? 'low' : ''}">${s.score}/5</span>
              <div><a href="#/ticket/${s.ticket_id}">#${s.ticket_id}</a> · ${t('survey.score.' + s.score)}
                ${s.comment ? html`<div class="preview">${s.comment}</div>` : ''}</div>
              <span class="small muted">${fmtDateTime(s.answered_at)}</span></li>`)}</ul>` : html`<p class="empty">${t('customer.no_scores')}</p>`}
          ${v.customer ? html`<p class="row small"><span class="grow" id="survey-opt-state">${t(v.surveys_opted_out ? 'customer.surveys_off' : 'customer.surveys_on')}</span>
            <button type="button" class="small" id="survey-opt-toggle">${t(v.surveys_opted_out ? 'customer.surveys_allow' : 'customer.surveys_stop')}</button></p>` : ''}
        </section>
        <section class="panel" aria-labelledby="hist-h">
          <h2 id="hist-h">${t('customer.history')}</h2>
          ${v.history.length ? html`<ul class="timeline" id="history">${v.history.map((h) => html`
            <li><span class="ch" title="${t('channel.' + h.channel)}">${channelIcon(h.channel)}</span>
              <div><div class="small"><strong>${t('direction.' + h.direction)}</strong> · ${t('channel.' + h.channel)}
                · <a href="#/ticket/${h.ticket_id}">#${h.ticket_id}</a>${h.subject ? html` · ${h.subject}` : ''}</div>
                ${h.call ? html`<div>${callSummary(h.call)}</div>` : ''}
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
      <ul class="timeline">${v.candidates.map((c) => html`<li><span class="ch">${icon('person')}</span>
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

  get newTicketKey() {
    return `new-ticket.${this.view.customer.id}`;
  }

  /** The new ticket's subject and first note; kept as a draft per customer until created. */
  newTicketForm(c) {
    const d = drafts.get(this.newTicketKey) || {};
    const subject = d.subject ?? (this.pop ? t('pop.call_subject', { name: c.display_name }) : '');
    return html`<form id="new-ticket-form" class="new-ticket-form" aria-label="${t('customer.new_ticket')}">
      <label>${t('ticket.subject')}<input name="subject" id="new-ticket-subject" required value="${subject}"></label>
      <label>${t('customer.new_ticket_note')}<textarea name="body" id="new-ticket-body" rows="3">${d.body || ''}</textarea></label>
      <div class="row"><button class="primary" type="submit" id="new-ticket-create">${t('customer.create_ticket')}</button>
        <button type="button" id="new-ticket-cancel">${t('common.cancel')}</button></div>
    </form>`;
  }

  /** The SMS form: the customer's numbers (opted-out ones disabled and marked) and the text. */
  smsForm() {
    const numbers = this.smsNumbers;
    if (!numbers) return html`<p class="muted small" id="sms-loading">${t('common.loading')}</p>`;
    const usable = numbers.filter((n) => !n.opted_out);
    return html`<form id="sms-form" class="new-ticket-form" aria-label="${t('sms.send_title')}">
      <fieldset><legend>${t('sms.to')}</legend>
        ${numbers.map((n, i) => html`<label class="row sms-number" data-number="${n.number}"><input type="radio" name="to" value="${n.number}"
            ${n.opted_out ? 'disabled' : ''} ${!n.opted_out && n.number === (usable[0] || {}).number ? 'checked' : ''} id="sms-to-${i}">
          <span class="ident">${n.number}</span>
          ${n.opted_out ? html`<span class="badge breach opted-out">${t('sms.opted_out')}</span>` : ''}</label>`)}
      </fieldset>
      ${usable.length ? '' : html`<div class="alert" role="status" id="sms-opted-out">${t('sms.opted_out_help')}</div>`}
      <label>${t('sms.text')}<textarea name="body" id="sms-body" rows="3" maxlength="1600" ${usable.length ? '' : 'disabled'}></textarea></label>
      <div class="row"><button class="primary" type="submit" id="sms-send" ${usable.length ? '' : 'disabled'}>${t('sms.send')}</button>
        <button type="button" id="sms-cancel">${t('common.cancel')}</button></div>
    </form>`;
  }

  async openSms() {
    this.texting = !this.texting;
    this.smsNumbers = null;
    this.smsDraft = '';
    this.draw();
    if (!this.texting) return;
    try {
      this.smsNumbers = await api.get(`/api/customers/${this.view.customer.id}/sms`);
    } catch (e) {
      this.texting = false;
      notify(errorText(e), 'error');
    }
    this.draw();
    this.querySelector('#sms-body:not([disabled])')?.focus();
  }

  async sendSms(e) {
    e.preventDefault();
    const f = e.target;
    const body = f.body.value.trim();
    const to = f.querySelector('input[name=to]:checked');
    if (!body || !to) return;
    try {
      const r = await api.post(`/api/customers/${this.view.customer.id}/sms`, { body, to: to.value });
      this.texting = false;
      notify(t('sms.sent'));
      location.hash = `#/ticket/${r.ticket.id}`;
    } catch (x) {
      notify(errorText(x), 'error');
    }
  }

  keepNewTicket() {
    const f = this.querySelector('#new-ticket-form');
    if (f && this.view && this.view.customer) drafts.set(this.newTicketKey, { subject: f.subject.value, body: f.body.value });
  }

  editForm(c) {
    return html`<form id="edit-form" class="form-grid" style="border-top:1px solid var(--line);padding-top:.75rem">
      <label>${t('customer.name')}<input name="display_name" value="${c.display_name}" required></label>
      <label>${t('customer.tier')}<select name="tier">${TIERS.map((x) => html`<option value="${x}" ${x === c.tier ? 'selected' : ''}>${t('tier.' + x)}</option>`)}</select></label>
      <label>${t('customer.language')}<input name="language" value="${c.language || ''}" placeholder="zh / en"></label>
      <label>${t('customer.address_as')}<select name="title" id="customer-title"><option value="">—</option>
        ${['mr', 'ms'].map((x) => html`<option value="${x}" ${x === c.title ? 'selected' : ''}>${t('customer.address_as.' + x)}</option>`)}</select></label>
      <label>${t('ticket.tags')}<input name="tags" value="${c.tags.join(', ')}"></label>
      <label style="grid-column:1/-1">${t('customer.notes')}<textarea name="notes" rows="3">${c.notes}</textarea></label>
      <label>${t('identity.kind')}<select name="kind">${KINDS.map((k) => html`<option value="${k}">${t('identity.' + k)}</option>`)}</select></label>
      <label>${t('customer.add_identity')}<input name="value" placeholder="${t('customer.add_identity_hint')}"></label>
      <div class="row" style="align-self:end"><button class="primary" type="submit">${t('common.save')}</button>
        <button type="button" id="cancel-edit">${t('common.cancel')}</button></div>
    </form>`;
  }

  wire() {
    this.querySelector('#tier-unpin')?.addEventListener('click', async () => {
      try {
        this.value = await api.del(`/api/customers/${this.view.customer.id}/tier-pin`);
        this.load(this.view.customer.id);
      } catch (x) {
        notify(errorText(x), 'error');
      }
    });
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
    this.querySelector('#new-ticket')?.addEventListener('click', () => {
      this.creating = !this.creating;
      this.draw();
      this.querySelector('#new-ticket-subject')?.focus();
    });
    const form = this.querySelector('#new-ticket-form');
    if (form) {
      form.addEventListener('input', () => this.keepNewTicket());
      form.addEventListener('submit', (e) => this.newTicket(e));
      this.querySelector('#new-ticket-cancel').addEventListener('click', () => {
        drafts.clear(this.newTicketKey);
        this.creating = false;
        this.draw();
      });
    }
    this.querySelector('#more-history')?.addEventListener('click', () => this.more());
    this.querySelector('#survey-opt-toggle')?.addEventListener('click', () => this.toggleSurveys());
    this.querySelector('#customer-dial[data-dial]')?.addEventListener('click', (e) => dial(e.currentTarget.dataset.dial));
    this.querySelector('#send-sms')?.addEventListener('click', () => this.openSms());
    this.querySelector('#sms-form')?.addEventListener('submit', (e) => this.sendSms(e));
    this.querySelector('#sms-cancel')?.addEventListener('click', () => this.openSms());
  }

  /** The customer asked (on the phone, say) for no more satisfaction surveys, or again. */
  async toggleSurveys() {
    const v = this.view;
    try {
      const r = await api.put(`/api/customers/${v.customer.id}/survey-opt-out`, { opted_out: !v.surveys_opted_out });
      v.surveys_opted_out = r.opted_out;
      this.draw();
    } catch (e) {
      notify(errorText(e), 'error');
    }
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
        title: f.title.value || null,
        notes: f.notes.value,
        tags: f.tags.value.split(',').map((s) => s.trim()).filter(Boolean),
      });
      if (f.value.value.trim()) await api.post(`/api/customers/${id}/identities`, { kind: f.kind.value, value: f.value.value.trim() });
      this.editing = false;
      notify(t('common.saved'));
      this.load(id);
    } catch (x) {
      notify(errorText(x), 'error');
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
      notify(errorText(x), 'error');
    }
  }

  async newTicket(e) {
    e.preventDefault();
    const c = this.view.customer;
    const f = e.target;
    const subject = f.subject.value.trim();
    if (!subject) return;
    try {
      const body = { subject, customer_id: c.id, channel: this.pop ? 'voice' : 'note', assignee_id: session.user.id };
      if (f.body.value.trim()) body.body = f.body.value;
      const x = await api.post('/api/tickets', body);
      drafts.clear(this.newTicketKey);
      this.creating = false;
      location.hash = `#/ticket/${x.id}`;
    } catch (err) {
      notify(errorText(err), 'error');
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
      notify(errorText(e), 'error');
    }
  }
}

customElements.define('hl-customer-view', HlCustomerView);
