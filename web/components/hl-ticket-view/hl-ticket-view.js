// <hl-ticket-view ticket-id="12"> — one ticket: header and controls (status, priority, kind,
// queue, assignee, tags), the customer, the whole thread (emails as text or sandboxed HTML,
// attachments, call records, SMS bubbles, notes), the composer (reply on
// the customer's channel or another, internal note, the macro picker), merge and split; its
// suggested articles go to the knowledge panel (`hl-suggestions`). A callback ticket shows its
// callback panel: the number with a Dial button, attempts, due time and the outcome buttons; a
// complaint its complaint panel (hl-complaint-panel).
// What the agent types is a draft per ticket (lib/drafts.js): it survives navigation and
// reloads and is cleared once sent. The composer answers on the customer's channel: SMS for a
// call or callback when the customer has a phone (else an internal note), never email by default.
// The macro picker (type to filter, arrows, Enter inserts) lists the macros usable on this
// ticket's queue, the customer's language first; inserting one fills its placeholders on the
// server and applies its actions, with a note of what was applied.
// Updates live on events for this ticket. Usage: <hl-ticket-view ticket-id="12"></hl-ticket-view>

import { api } from '../../lib/api.js';
import { drafts } from '../../lib/drafts.js';
import { html, render } from '../../lib/html.js';
import {
  enumText, errorText, fmtBytes, fmtDateTime, fmtDuration, fromLocalInput, i18n, subjectText, systemText, t, toLocalInput,
} from '../../lib/i18n.js';
import { channelIcon, icon } from '../../lib/icons.js';
import {
  callCapabilities, callSummary, dial, dialButton, dispositionCodes, dispositionName, mayDispose, setDisposition,
} from '../../lib/calls.js';
import { notify, session } from '../../lib/session.js';
import { slaBadge } from '../../lib/sla.js';
import { markSeen } from '../hl-ticket-list/hl-ticket-list.js';
import { actionsText } from '../hl-admin-macros/hl-admin-macros.js';
import '../hl-complaint-panel/hl-complaint-panel.js';

const STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const KINDS = ['inquiry', 'complaint', 'request', 'incident', 'callback'];
const OUTCOMES = ['reached', 'no_answer', 'wrong_number', 'later'];

function phoneOf(customer) {
  const p = customer && customer.identities ? customer.identities.find((i) => i.kind === 'phone') : null;
  return p ? p.value : '';
}
function emailOf(customer) {
  const p = customer && customer.identities ? customer.identities.find((i) => i.kind === 'email') : null;
  return p ? p.value : '';
}

class HlTicketView extends HTMLElement {
  connectedCallback() {
    this.draft = drafts.get(this.draftKey) || {};
    this.mode = this.draft.mode || null;
    this.load();
    this.onEvent = (e) => {
      const ev = e.detail;
      if (ev.ticket_id === this.id_ && (ev.kind.startsWith('ticket.') || ev.kind === 'interaction.created' || ev.kind === 'call.updated' || ev.kind === 'survey.answered')) this.soon();
    };
    this.onShortcut = (e) => {
      if (e.detail === 'reply' || e.detail === 'note') this.setMode(e.detail, true);
      if (e.detail === 'send') this.send();
    };
    this.onInsert = (e) => this.insert(e.detail.text);
    this.onLocale = () => this.draw();
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-shortcut', this.onShortcut);
    window.addEventListener('hl-insert', this.onInsert);
    window.addEventListener('hl-locale', this.onLocale);
  }

  disconnectedCallback() {
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-shortcut', this.onShortcut);
    window.removeEventListener('hl-insert', this.onInsert);
    window.removeEventListener('hl-locale', this.onLocale);
    session.currentTicket = null;
    window.dispatchEvent(new CustomEvent('hl-suggestions', { detail: { ticketId: null, hits: [] } }));
  }

  get id_() {
    return Number(this.getAttribute('ticket-id'));
  }

  get draftKey() {
    return `ticket.${this.getAttribute('ticket-id')}`;
  }

  soon() {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.load(), 250);
  }

  async load() {
    try {
      const data = await api.get(`/api/tickets/${this.id_}`);
      this.ticket = data.ticket;
      this.interactions = data.interactions;
      this.callback = data.callback || null;
      this.sla = data.sla || null;
      this.survey = data.survey || null;
      session.currentTicket = this.ticket;
      markSeen(this.ticket);
      this.customer = this.ticket.customer_id ? (await api.get(`/api/customers/${this.ticket.customer_id}`)).customer : null;
      [this.cap, this.codes] = await Promise.all([callCapabilities(), dispositionCodes()]);
      this.error = null;
    } catch (e) {
      this.error = e.status === 404 ? t('ticket.not_found') : errorText(e);
    }
    this.draw();
    if (this.ticket && this.suggestions === undefined) this.loadSuggestions();
  }

  async loadSuggestions() {
    try {
      const s = await api.optional(`/api/tickets/${this.id_}/suggestions`);
      this.suggestions = s ? s.hits || s : null;
    } catch {
      this.suggestions = null;
    }
    // Shown by the knowledge panel beside the ticket.
    window.dispatchEvent(new CustomEvent('hl-suggestions', { detail: { ticketId: this.id_, hits: this.suggestions || [] } }));
  }

  /** Reads the composer into the draft and stores it (called on every input). */
  keepDraft() {
    const form = this.querySelector('#composer');
    if (!form) return;
    const d = { ...this.draft, mode: this.mode };
    d[this.formMode] = form.querySelector('#composer-text').value;
    if (form.channel) d.channel = form.channel.value;
    if (form.to) d.to = form.to.value;
    this.draft = d;
    if (d.reply || d.note || d.to) drafts.set(this.draftKey, d);
    else drafts.clear(this.draftKey);
  }

  /** The channel a reply goes by unless the agent picks another: the customer's own. */
  defaultChannel() {
    const x = this.ticket;
    if (x.channel === 'sms') return 'sms';
    if (x.channel === 'voice' || x.kind === 'callback') return phoneOf(this.customer) || (this.callback && this.callback.phone) ? 'sms' : null;
    if (x.channel === 'email' || emailOf(this.customer)) return 'email';
    return phoneOf(this.customer) ? 'sms' : null;
  }

  draw() {
    if (this.error) {
      render(this, html`<p class="error" role="alert">${this.error}</p>`);
      return;
    }
    if (!this.ticket) {
      render(this, html`<p class="muted">${t('common.loading')}</p>`);
      return;
    }
    this.keepDraft();
    const x = this.ticket;
    const c = this.customer;
    const channels = ['email', 'sms'];
    const fallback = this.defaultChannel();
    // Without a channel to answer on (a call from a number we cannot text), a note.
    if (!this.mode) this.mode = fallback ? 'reply' : 'note';
    const channel = this.draft.channel || fallback || 'email';
    render(this, html`
      <div class="ticket-head">
        <h1 id="ticket-subject">${subjectText(x)}</h1>
        <span class="muted">#${x.id}</span>
        <span class="badge ${x.status}">${t('status.' + x.status)}</span>
        <span class="badge ${x.priority}">${t('priority.' + x.priority)}</span>
        <span class="badge ${x.kind}">${t('kind.' + x.kind)}</span>
        <span class="badge">${channelIcon(x.channel)} ${t('channel.' + x.channel)}</span>
        ${slaBadge(this.sla)}
        ${x.merged_into ? html`<a href="#/ticket/${x.merged_into}">${t('ticket.merged_into', { n: x.merged_into })}</a>` : ''}
      </div>
      <p class="muted small">${t('ticket.created')} ${fmtDateTime(x.created_at)} · ${t('ticket.updated')} ${fmtDateTime(x.updated_at)}
        ${c ? html` · ${t('ticket.customer')}: <a href="#/customer/${c.id}" id="ticket-customer">${c.display_name}</a>
          <span class="badge ${c.tier}">${t('tier.' + c.tier)}</span>` : html` · ${t('ticket.no_customer')}`}</p>
      <form class="ticket-controls" id="controls" aria-label="${t('ticket.controls')}">
        <label>${t('ticket.status')}<select name="status">${STATUSES.map((s) => html`<option value="${s}" ${x.status === s ? 'selected' : ''}>${t('status.' + s)}</option>`)}</select></label>
        <label>${t('ticket.priority')}<select name="priority">${PRIORITIES.map((s) => html`<option value="${s}" ${x.priority === s ? 'selected' : ''}>${t('priority.' + s)}</option>`)}</select></label>
        <label>${t('ticket.kind')}<select name="kind">${KINDS.map((s) => html`<option value="${s}" ${x.kind === s ? 'selected' : ''}>${t('kind.' + s)}</option>`)}</select></label>
        <label>${t('ticket.queue')}<select name="queue_id"><option value="">—</option>${session.queues.map((q) => html`<option value="${q.id}" ${x.queue_id === q.id ? 'selected' : ''}>${q.name}</option>`)}</select></label>
        <label>${t('ticket.assignee')}<select name="assignee_id"><option value="">—</option>
          ${session.users.filter((u) => u.active !== false && (session.supervisor || u.id === session.user.id || u.id === x.assignee_id))
            .map((u) => html`<option value="${u.id}" ${x.assignee_id === u.id ? 'selected' : ''}>${u.display_name || u.login}</option>`)}</select></label>
        <label>${t('ticket.tags')}<input name="tags" value="${x.tags.join(', ')}" placeholder="${t('ticket.tags_hint')}"></label>
      </form>
      <div class="row" style="margin-bottom:1rem">
        ${x.assignee_id !== session.user.id ? html`<button type="button" id="take">${t('ticket.take')}</button>` : ''}
        <button type="button" id="merge">${t('ticket.merge')}</button>
        ${c ? html`<a class="button" href="#/customer/${c.id}">${t('ticket.open_customer')}</a>` : ''}
        ${x.kind !== 'callback' && !this.callback && phoneOf(c) ? dialButton('ticket-dial', phoneOf(c), this.cap, t('calls.dial_customer')) : ''}
      </div>
      ${x.kind === 'callback' || this.callback ? this.callbackPanel() : ''}
      ${x.kind === 'complaint' ? html`<hl-complaint-panel ticket-id="${x.id}"></hl-complaint-panel>` : ''}
      ${this.surveyPanel()}
      <section class="thread" aria-label="${t('ticket.thread')}" id="thread">
        ${this.interactions.map((i) => this.item(i))}
      </section>
      <section class="composer ${this.mode === 'note' ? 'note-mode' : ''}" aria-label="${t('composer.label')}">
        <div role="tablist">
          <button type="button" role="tab" id="tab-reply" aria-selected="${this.mode === 'reply'}">${t('composer.reply')}</button>
          <button type="button" role="tab" id="tab-note" aria-selected="${this.mode === 'note'}">${t('composer.note')}</button>
        </div>
        <form id="composer" class="grid" style="display:grid;gap:.5rem">
          <div class="row">
            ${this.mode === 'reply' ? html`
              <label>${t('composer.channel')}<select name="channel" id="reply-channel">
                ${channels.map((ch) => html`<option value="${ch}" ${ch === channel ? 'selected' : ''}>${t('channel.' + ch)}</option>`)}</select></label>
              <label class="grow">${t('composer.to')}<input name="to" id="reply-to" value="${this.draft.to || ''}" placeholder="${t('composer.to_hint')}"></label>
              <label>${t('composer.then')}<select name="status">
                <option value="">${t('composer.keep_status')}</option>
                <option value="pending">${t('status.pending')}</option>
                <option value="resolved">${t('status.resolved')}</option></select></label>` : ''}
            <div class="macro-picker">
              <label for="macro-search">${t('composer.macro')}</label>
              <input id="macro-search" type="search" autocomplete="off" role="combobox" aria-autocomplete="list"
                aria-expanded="false" aria-controls="macro-options" placeholder="${t('composer.macro_hint')}" value="${this.macroQuery || ''}">
              <ul id="macro-options" role="listbox" aria-label="${t('composer.macro')}" hidden></ul>
            </div>
          </div>
          ${this.macroNote ? html`<p class="small muted" id="macro-applied" role="status">${this.macroNote}</p>` : ''}
          <label for="composer-text" class="sr-only">${t(this.mode === 'note' ? 'composer.note' : 'composer.reply')}</label>
          <textarea id="composer-text" rows="6" placeholder="${t(this.mode === 'note' ? 'composer.note_hint' : 'composer.reply_hint')}">${this.draft[this.mode] || ''}</textarea>
          <div class="row"><span class="muted small grow">${t('composer.send_hint')}</span>
            <button class="primary" type="submit" id="send">${t(this.mode === 'note' ? 'composer.add_note' : 'composer.send')}</button></div>
        </form>
      </section>`);
    this.formMode = this.mode;
    this.wire();
  }

  /** A callback: the number with one-click dial, attempts, due time, and how the call went. */
  callbackPanel() {
    const cb = this.callback || {};
    const number = cb.phone || phoneOf(this.customer);
    const outcomes = cb.outcomes || [];
    const open = !['resolved', 'closed'].includes(this.ticket.status);
    return html`<section class="panel callback-panel" id="callback-panel" aria-labelledby="callback-h">
      <h2 id="callback-h">${icon('callback')} ${t('callback.title')}</h2>
      <div class="row">
        <span class="number" id="callback-number">${number || t('callback.no_number')}</span>
        ${dialButton('dial', number, this.cap)}
      </div>
      <dl>
        ${cb.reason ? html`<div><dt>${t('callback.why')}</dt><dd>${systemText(cb.reason_data, cb.reason)}</dd></div>` : ''}
        <div><dt>${t('callback.due')}</dt><dd id="callback-due">${cb.due_ms ? fmtDateTime(cb.due_ms) : '—'}</dd></div>
        <div><dt>${t('callback.attempts_label')}</dt><dd id="callback-attempts">${cb.attempts ?? outcomes.length}</dd></div>
      </dl>
      ${outcomes.length ? html`<ul class="small" id="callback-outcomes">${outcomes.map((o) => html`<li>${fmtDateTime(o.at_ms)} ·
        ${enumText('callback.outcome', o.outcome)}${o.by ? html` · ${session.userName(o.by)}` : ''}${o.note ? html` · ${o.note}` : ''}</li>`)}</ul>` : ''}
      ${open ? html`<form class="row" id="callback-outcome" aria-label="${t('callback.outcome_label')}">
        <span class="small muted">${t('callback.outcome_label')}:</span>
        ${OUTCOMES.map((o) => html`<button type="submit" name="outcome" value="${o}" data-outcome="${o}">${t('callback.outcome.' + o)}</button>`)}
        <label class="small">${t('callback.retry_at')}<input type="datetime-local" name="retry_at" id="callback-retry-at"
          value="${toLocalInput(Date.now() + 30 * 60000)}"></label>
        <label class="small grow">${t('callback.note')}<input name="note" id="callback-note"></label>
      </form>` : ''}
    </section>`;
  }

  /** The customer's satisfaction survey (sent, answered: score and comment as text), and the
   * form to record a score the customer gave on the phone. */
  surveyPanel() {
    const s = this.survey;
    if (!s && ['new', 'open', 'pending'].includes(this.ticket.status) && this.ticket.channel !== 'voice') return '';
    return html`<section class="panel survey-panel" id="survey-panel" aria-labelledby="survey-h">
      <h2 id="survey-h">${t('ticket.survey')}</h2>
      ${s ? html`<dl>
        ${s.sent_at ? html`<div><dt>${t('ticket.survey_sent')}</dt><dd id="survey-sent">${fmtDateTime(s.sent_at)} · ${t('channel.' + s.channel)}</dd></div>` : ''}
        <div><dt>${t('ticket.survey_score')}</dt><dd id="survey-score" data-score="${s.score ?? ''}">${s.score != null ? html`<strong>${s.score}/5</strong> · ${t('survey.score.' + s.score)}` : t('ticket.survey_waiting')}</dd></div>
        ${s.answered_at ? html`<div><dt>${t('ticket.survey_answered')}</dt><dd>${fmtDateTime(s.answered_at)} · ${t('ticket.survey_via.' + s.via)}${s.answered_by ? html` · ${session.userName(s.answered_by)}` : ''}</dd></div>` : ''}
        ${s.comment ? html`<div><dt>${t('ticket.survey_comment')}</dt><dd id="survey-comment" class="pre">${s.comment}</dd></div>` : ''}
        ${s.follow_up_ticket_id ? html`<div><dt>${t('ticket.survey_follow_up')}</dt><dd><a href="#/ticket/${s.follow_up_ticket_id}">#${s.follow_up_ticket_id}</a></dd></div>` : ''}
      </dl>` : ''}
      ${!s || s.answered_at == null ? html`<form class="row" id="survey-verbal" aria-label="${t('ticket.survey_record')}">
        <label class="small">${t('ticket.survey_score')}<select name="score" id="survey-verbal-score">
          ${[5, 4, 3, 2, 1].map((n) => html`<option value="${n}">${n} · ${t('survey.score.' + n)}</option>`)}</select></label>
        <label class="small grow">${t('ticket.survey_comment')}<input name="comment" id="survey-verbal-comment"></label>
        <button type="submit" id="survey-verbal-save">${t('ticket.survey_record')}</button>
      </form>` : ''}
    </section>`;
  }

  async recordScore(form) {
    try {
      this.survey = await api.post(`/api/tickets/${this.id_}/survey`, { score: Number(form.score.value), comment: form.comment.value });
      notify(t('ticket.survey_recorded'));
      this.load();
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  async dial(number) {
    if (await dial(number)) this.soon();
  }

  async outcome(outcome) {
    const f = this.querySelector('#callback-outcome');
    const body = { outcome };
    if (f.note.value.trim()) body.note = f.note.value.trim();
    if (outcome === 'later') {
      const at = fromLocalInput(f.retry_at.value);
      if (at) body.retry_at_ms = at;
    }
    try {
      const data = await api.post(`/api/tickets/${this.id_}/callback/outcome`, body);
      notify(t('callback.recorded', { outcome: t('callback.outcome.' + outcome) }));
      if (data && data.ticket) {
        this.ticket = data.ticket;
        this.interactions = data.interactions || this.interactions;
        this.callback = data.callback || this.callback;
        this.sla = data.sla || null;
        this.draw();
      } else {
        this.load();
      }
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  item(i) {
    const meta = i.meta || {};
    // Text the server generated is data (meta.text), shown in the reader's language.
    const system = i.author_id == null && (i.direction === 'internal' || i.channel === 'note');
    const who = i.direction === 'out' || i.direction === 'internal'
      ? (i.author_id != null ? session.userName(i.author_id) : system ? t('ticket.system') : '') || i.from_addr
      : i.from_addr;
    const body = systemText(meta.text, i.body);
    // Every attachment has an id and downloads from /api/attachments/{id}; one too large to
    // keep is listed without a link.
    const files = i.attachments || [];
    const attachments = files.length ? html`<div class="attachments">${files.map((a) => {
      const name = a.filename || 'file';
      const label = html`${icon('attachment')} ${name} (${fmtBytes(a.size || 0)})`;
      return a.stored !== false
        ? html`<a class="small" href="/api/attachments/${a.id}" download="${name}" data-attachment="${a.id}">${label}</a>`
        : html`<span class="small muted" title="${t('ticket.attachment_not_kept')}">${label}</span>`;
    })}</div>` : '';
    const split = i.direction === 'in' && this.interactions.length > 1
      ? html`<button class="small" data-split="${i.id}">${t('ticket.split')}</button>` : '';
    if (i.channel === 'sms') {
      return html`<div class="sms ${i.direction}" data-interaction="${i.id}"><div>
        <div class="bubble">${body}</div>
        <div class="meta">${i.direction === 'in' ? i.from_addr : who} · ${fmtDateTime(i.created_at)}
          ${meta.delivery ? html` · ${enumText('delivery', meta.delivery)}` : ''} ${split}</div></div></div>`;
    }
    if (i.channel === 'voice') {
      const secs = meta.duration_s ?? (meta.talk_ms != null ? meta.talk_ms / 1000 : null) ?? (meta.answered_at && meta.ended_at ? (meta.ended_at - meta.answered_at) / 1000 : null);
      return html`<article class="msg call" data-interaction="${i.id}">${icon('voice')}
        <div class="grow"><strong>${t(i.direction === 'out' ? 'call.outbound' : 'call.inbound')}</strong>
          <span class="muted"> ${i.from_addr} → ${i.to_addr}</span>
          ${i.call ? html`<div>${callSummary(i.call)}</div>` : ''}
          <div class="small">${[
            !i.call && secs != null ? `${t('call.duration')} ${fmtDuration(secs)}` : '',
            meta.cause ? `${t('call.cause')}: ${enumText('cause', meta.cause)}` : '',
            body,
          ].filter(Boolean).join(' · ')}</div>
          ${mayDispose(i.call) ? this.disposeSelect(i.call) : ''}</div>
        <span class="small muted">${fmtDateTime(i.created_at)}</span></article>`;
    }
    if (i.channel === 'note' || i.direction === 'internal') {
      return html`<article class="msg note ${system ? 'system' : ''}" data-interaction="${i.id}"><header>${icon('note')}<strong class="note-author">${who}</strong>
        <span>${t('ticket.internal_note')}</span><span>${fmtDateTime(i.created_at)}</span></header><div class="body">${body}</div></article>`;
    }
    const hasHtml = typeof i.html === 'string' && i.html.trim() && i.direction === 'in';
    return html`<article class="msg ${i.direction}" data-interaction="${i.id}">
      <header><strong>${i.direction === 'in' ? i.from_addr : who}</strong>
        ${i.to_addr ? html`<span>→ ${i.to_addr}</span>` : ''}
        <span>${t('channel.' + i.channel)}</span><span>${fmtDateTime(i.created_at)}</span>
        ${meta.delivery ? html`<span class="badge">${enumText('delivery', meta.delivery)}</span>` : ''}
        ${meta.thread_reason && meta.thread_reason !== 'new_ticket' ? html`<span title="${t('ticket.thread_reason')}" class="thread-reason">↳ ${enumText('thread_reason', meta.thread_reason)}</span>` : ''}
        <span class="grow"></span>${hasHtml ? html`<button class="small" data-html="${i.id}">${t('ticket.show_formatted')}</button>` : ''} ${split}</header>
      ${i.subject ? html`<div><strong>${i.subject}</strong></div>` : ''}
      <div class="body" id="body-${i.id}">${body}</div>${attachments}</article>`;
  }

  /** The code of a call: picked here too (its agent or a supervisor), e.g. after wrap-up. */
  disposeSelect(call) {
    const current = call.disposition ? call.disposition.id : null;
    const codes = (this.codes || []).slice();
    if (call.disposition && !codes.some((d) => d.id === current)) codes.push(call.disposition);
    return html`<label class="small">${t('calls.disposition')}
      <select data-dispose="${call.id}" id="dispose-${call.id}"><option value="">—</option>
        ${codes.map((d) => html`<option value="${d.id}" ${d.id === current ? 'selected' : ''}>${dispositionName(d)}</option>`)}</select></label>`;
  }

  wire() {
    const controls = this.querySelector('#controls');
    controls.addEventListener('change', (e) => {
      const f = e.target;
      let value = f.value;
      if (f.name === 'queue_id' || f.name === 'assignee_id') value = value ? Number(value) : null;
      if (f.name === 'tags') value = value.split(',').map((s) => s.trim()).filter(Boolean);
      this.change({ [f.name]: value });
    });
    this.querySelector('#take')?.addEventListener('click', () => this.change({ assignee_id: session.user.id }));
    this.querySelector('#merge').addEventListener('click', () => this.merge());
    this.querySelector('#tab-reply').addEventListener('click', () => this.setMode('reply', true));
    this.querySelector('#tab-note').addEventListener('click', () => this.setMode('note', true));
    this.querySelector('#composer').addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.querySelector('#composer').addEventListener('input', () => this.keepDraft());
    this.querySelector('#composer').addEventListener('change', () => this.keepDraft());
    for (const b of this.querySelectorAll('[data-dial]')) b.addEventListener('click', () => this.dial(b.dataset.dial));
    for (const sel of this.querySelectorAll('[data-dispose]')) {
      sel.addEventListener('change', async () => {
        if (!sel.value) return;
        sel.disabled = true;
        if (await setDisposition(Number(sel.dataset.dispose), Number(sel.value))) this.load();
        else sel.disabled = false;
      });
    }
    this.querySelector('#survey-verbal')?.addEventListener('submit', (e) => {
      e.preventDefault();
      this.recordScore(e.target);
    });
    this.querySelector('#callback-outcome')?.addEventListener('submit', (e) => {
      e.preventDefault();
      if (e.submitter && e.submitter.value) this.outcome(e.submitter.value);
    });
    this.wireMacros();
    for (const b of this.querySelectorAll('[data-html]')) b.addEventListener('click', () => this.showHtml(Number(b.dataset.html), b));
    for (const b of this.querySelectorAll('[data-split]')) b.addEventListener('click', () => this.split(Number(b.dataset.split)));
  }

  /** The macro language to list first: the customer's, else the console's. */
  customerLanguage() {
    const l = ((this.customer && this.customer.language) || '').toLowerCase();
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
    return i18n.locale === 'en' ? 'en' : 'zh-CN';
  }

  /** The macros matching what is typed, the customer's language first, then by title. */
  macroMatches(text) {
    const q = text.trim().toLowerCase();
    const first = this.customerLanguage();
    return (this.macros || [])
      .filter((m) => !q || m.title.toLowerCase().includes(q) || m.body.toLowerCase().includes(q))
      .sort((a, b) => (a.language === first ? 0 : 1) - (b.language === first ? 0 : 1) || a.title.localeCompare(b.title))
      .slice(0, 12);
  }

  wireMacros() {
    const input = this.querySelector('#macro-search');
    const list = this.querySelector('#macro-options');
    if (!input) return;
    let active = 0;
    let shown = [];
    const close = () => {
      list.hidden = true;
      input.setAttribute('aria-expanded', 'false');
      input.removeAttribute('aria-activedescendant');
    };
    const show = async () => {
      if (!this.macros) {
        try {
          const q = this.ticket.queue_id ? `?queue_id=${this.ticket.queue_id}` : '';
          this.macros = (await api.get(`/api/macros${q}`)).macros;
        } catch (e) {
          notify(errorText(e), 'error');
          return;
        }
      }
      shown = this.macroMatches(input.value);
      active = Math.min(active, Math.max(shown.length - 1, 0));
      render(list, shown.length
        ? html`${shown.map((m, i) => html`<li role="option" id="macro-opt-${m.id}" data-macro-id="${m.id}" aria-selected="${i === active}"
            class="${i === active ? 'active' : ''}"><strong>${m.title}</strong> <span class="badge">${t('macros.lang.' + m.language)}</span>
            <span class="small muted excerpt">${m.body}</span></li>`)}`
        : html`<li class="muted small" aria-disabled="true">${t('composer.macro_none')}</li>`);
      list.hidden = false;
      input.setAttribute('aria-expanded', 'true');
      if (shown[active]) input.setAttribute('aria-activedescendant', `macro-opt-${shown[active].id}`);
    };
    input.addEventListener('focus', () => {
      this.macroFocused = true;
      show();
    });
    input.addEventListener('input', (e) => {
      e.stopPropagation();
      this.macroQuery = input.value;
      active = 0;
      show();
    });
    input.addEventListener('change', (e) => e.stopPropagation());
    input.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        if (shown.length) active = (active + (e.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length;
        show();
      } else if (e.key === 'Enter') {
        e.preventDefault();
        if (shown[active]) this.useMacro(shown[active]);
      } else if (e.key === 'Escape') {
        close();
      }
    });
    // A click on an option blurs the field first; close only if the focus did not come back.
    input.addEventListener('blur', () => setTimeout(() => {
      if (document.activeElement !== input) {
        this.macroFocused = false;
        close();
      }
    }, 150));
    list.addEventListener('mousedown', (e) => {
      const li = e.target.closest('[data-macro-id]');
      if (!li) return;
      e.preventDefault();
      this.useMacro(shown.find((m) => m.id === Number(li.dataset.macroId)));
    });
    // The view re-renders on live events: an agent in the middle of picking keeps the list.
    if (this.macroFocused) input.focus();
  }

  /** Fills the macro in on the server, inserts its text and shows what its actions changed. */
  async useMacro(m) {
    try {
      const out = await api.post(`/api/macros/${m.id}/apply`, { ticket_id: this.id_ });
      const search = this.querySelector('#macro-search');
      search.value = '';
      this.macroQuery = '';
      this.macroFocused = false;
      this.insert(out.text);
      const applied = actionsText(out.applied);
      this.macroNote = applied ? t('composer.macro_applied', { title: m.title, actions: applied }) : '';
      if (applied) {
        this.ticket = out.ticket;
        this.draw();
        this.querySelector('#composer-text').focus();
      }
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  setMode(mode, focus) {
    this.keepDraft();
    this.mode = mode;
    this.draw();
    if (focus) this.querySelector('#composer-text').focus();
  }

  insert(text) {
    const box = this.querySelector('#composer-text');
    if (!box) return;
    const at = box.selectionStart ?? box.value.length;
    box.value = box.value.slice(0, at) + text + box.value.slice(box.selectionEnd ?? at);
    box.focus();
    this.keepDraft();
  }

  /**
   * Sanitized email HTML in a frame that runs no scripts (sandbox without allow-scripts; same
   * origin only so that its inline images load with the session). The server sends it with
   * remote content removed and `cid:` images pointing at /api/attachments/; the frame's policy
   * allows only those unless the agent loads the images of this message.
   */
  showHtml(id, button) {
    const i = this.interactions.find((x) => x.id === id);
    const body = this.querySelector(`#body-${id}`);
    if (body.querySelector('iframe')) {
      body.textContent = i.body;
      button.textContent = t('ticket.show_formatted');
      return;
    }
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', 'allow-same-origin');
    frame.setAttribute('referrerpolicy', 'no-referrer');
    frame.title = t('ticket.formatted_email');
    frame.srcdoc = framed(i.html, false);
    const parts = [frame];
    if (i.remote_content > 0) {
      const note = document.createElement('p');
      note.className = 'small muted remote-note';
      note.textContent = `${t('ticket.remote_hidden')} `;
      const load = document.createElement('button');
      load.type = 'button';
      load.className = 'small';
      load.dataset.loadImages = String(id);
      load.textContent = t('ticket.load_images');
      load.addEventListener('click', async () => {
        load.disabled = true;
        try {
          const full = await api.get(`/api/interactions/${id}/html?remote=true`);
          frame.srcdoc = framed(full.html, true);
          note.remove();
        } catch (e) {
          notify(errorText(e), 'error');
          load.disabled = false;
        }
      });
      note.append(load);
      parts.unshift(note);
    }
    body.replaceChildren(...parts);
    button.textContent = t('ticket.show_text');
  }

  async change(fields) {
    try {
      this.ticket = await api.patch(`/api/tickets/${this.id_}`, fields, this.ticket && this.ticket.version);
      notify(t('ticket.saved'));
      this.draw();
    } catch (e) {
      if (e.code === 'version_conflict') {
        // Someone else changed the ticket since it was loaded: show theirs, not ours.
        notify(t('ticket.changed_elsewhere'), 'error');
        await this.load();
        return;
      }
      notify(errorText(e), 'error');
      this.draw();
    }
  }

  async send() {
    const box = this.querySelector('#composer-text');
    if (!box || !box.value.trim()) return;
    const button = this.querySelector('#send');
    button.disabled = true;
    try {
      if (this.mode === 'note') {
        await api.post(`/api/tickets/${this.id_}/notes`, { body: box.value });
        notify(t('composer.note_added'));
      } else {
        const form = this.querySelector('#composer');
        const body = { body: box.value, channel: form.channel.value };
        if (form.to.value.trim()) body.to = form.to.value.trim();
        if (form.status.value) body.status = form.status.value;
        await api.post(`/api/tickets/${this.id_}/replies`, body);
        notify(t('composer.sent', { channel: t('channel.' + body.channel) }));
      }
      box.value = '';
      this.draft = { ...this.draft, [this.mode]: '', to: this.mode === 'reply' ? '' : this.draft.to };
      this.keepDraft();
      await this.load();
    } catch (e) {
      notify(errorText(e), 'error');
      button.disabled = false;
    }
  }

  async merge() {
    const into = prompt(t('ticket.merge_prompt'));
    if (!into || !Number(into.replace('#', ''))) return;
    try {
      await api.post(`/api/tickets/${this.id_}/merge`, { into: Number(into.replace('#', '')) });
      notify(t('ticket.merged'));
      this.load();
    } catch (e) {
      notify(e.missing ? t('common.not_available') : errorText(e), 'error');
    }
  }

  async split(interactionId) {
    try {
      const res = await api.post(`/api/interactions/${interactionId}/split`, {});
      const id = (res && (res.id || (res.ticket && res.ticket.id))) || null;
      notify(t('ticket.split_done'));
      if (id) location.hash = `#/ticket/${id}`;
      else this.load();
    } catch (e) {
      notify(e.missing ? t('common.not_available') : errorText(e), 'error');
    }
  }
}

/** The document of a mail frame: its policy first (images from our attachments only, or also
 * remote ones once loaded), no referrer, then the HTML. */
function framed(body, remote) {
  const images = `data: ${location.origin}/api/attachments/${remote ? ' http: https:' : ''}`;
  return `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src ${images}">`
    + `<meta name="referrer" content="no-referrer">${body}`;
}

customElements.define('hl-ticket-view', HlTicketView);
