// <hl-complaint-panel ticket-id="12"> — a complaint ticket's complaint: category, severity,
// order and desired outcome (editable), the status with the due time of the step in progress
// (late ones marked), the moves an agent can make from here (acknowledge, investigate,
// respond, close, reopen with a note), the confirmation call's outcome (回访: satisfied, not
// satisfied with a note, unreachable) once responded, and every move with who and when.
// Shown by hl-ticket-view for complaint tickets; reloads on this ticket's complaint events.

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, fmtDateTime, i18n, t } from '../../lib/i18n.js';
import { notify, session } from '../../lib/session.js';

/** The actions offered from each status (the server checks them again). */
const ACTIONS = {
  received: ['acknowledge', 'investigate', 'respond', 'close'],
  acknowledged: ['investigate', 'respond', 'close'],
  investigating: ['respond', 'close'],
  responded: ['close'],
  confirmed: ['close', 'reopen'],
  closed: ['reopen'],
};

/** A category's or severity's name in the console's language. */
export function localName(x) {
  if (!x) return '';
  return i18n.locale === 'en' ? x.name_en : x.name_zh;
}

/** Lists shared by the panel and the register (loaded once per page). */
let lists = null;
export async function complaintLists() {
  if (!lists) {
    lists = Promise.all([api.get('/api/complaint-categories'), api.get('/api/complaint-severities')])
      .then(([categories, severities]) => ({ categories, severities }))
      .catch((e) => {
        lists = null;
        throw e;
      });
  }
  return lists;
}
/** Forget the lists (after an admin changed them). */
export function forgetComplaintLists() {
  lists = null;
}

/** The last complaint seen per ticket: the ticket view redraws this panel, which then shows at
 * once what it showed before while it loads again. */
const seen = new Map();
/** Tickets whose history the agent opened (kept open across redraws). */
const historyOpen = new Set();

class HlComplaintPanel extends HTMLElement {
  connectedCallback() {
    if (seen.has(this.id_)) [this.c, this.lists] = seen.get(this.id_);
    this.onEvent = (e) => {
      const ev = e.detail;
      if (ev.ticket_id === this.id_ && ev.kind.startsWith('complaint.')) this.load();
    };
    this.onLocale = () => this.draw();
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-locale', this.onLocale);
    if (this.c) this.draw();
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-locale', this.onLocale);
  }

  get id_() {
    return Number(this.getAttribute('ticket-id'));
  }

  async load() {
    try {
      [this.c, this.lists] = await Promise.all([api.get(`/api/tickets/${this.id_}/complaint`), complaintLists()]);
      this.error = null;
    } catch (e) {
      this.error = errorText(e);
    }
    this.draw();
  }

  /** The step in progress and its due time. */
  step() {
    const c = this.c;
    if (['confirmed', 'closed'].includes(c.status)) return null;
    if (c.acknowledged_at == null) return ['ack', c.ack_due];
    if (c.responded_at == null) return ['respond', c.respond_due];
    return ['close', c.close_due];
  }

  draw() {
    if (this.error) {
      render(this, html`<section class="panel complaint-panel"><p class="error" role="alert">${this.error}</p></section>`);
      return;
    }
    const c = this.c;
    if (!c) return;
    seen.set(this.id_, [c, this.lists]);
    const { categories, severities } = this.lists;
    const step = this.step();
    const actions = ACTIONS[c.status] || [];
    render(this, html`<section class="panel complaint-panel" id="complaint-panel" aria-labelledby="complaint-h">
      <h2 id="complaint-h">${t('complaint.title')}
        <span class="badge complaint-${c.status}" id="complaint-status">${enumText('complaint.status', c.status)}</span>
        ${c.overdue ? html`<span class="badge breached" id="complaint-overdue">${t('complaint.overdue', { step: enumText('complaint.step', c.overdue) })}</span>` : ''}
        ${c.round > 1 ? html`<span class="badge" title="${t('complaint.reopened_hint')}">${t('complaint.round', { n: c.round })}</span>` : ''}</h2>
      <form class="grid complaint-fields" id="complaint-fields" aria-label="${t('complaint.fields')}">
        <label>${t('complaint.category')}<select name="category_id" id="complaint-category">
          ${categories.filter((k) => k.active || k.id === c.category_id).map((k) => html`<option value="${k.id}" ${k.id === c.category_id ? 'selected' : ''}>${localName(k)}</option>`)}</select></label>
        <label>${t('complaint.severity')}<select name="severity" id="complaint-severity">
          ${severities.map((s) => html`<option value="${s.level}" ${s.level === c.severity ? 'selected' : ''} title="${i18n.locale === 'en' ? s.description_en : s.description_zh}">${s.level} · ${localName(s)}</option>`)}</select></label>
        <label>${t('complaint.order_ref')}<input name="order_ref" id="complaint-order" value="${c.order_ref}" maxlength="200"></label>
        <label class="grow">${t('complaint.desired_outcome')}<input name="desired_outcome" id="complaint-outcome" value="${c.desired_outcome}" maxlength="2000"></label>
      </form>
      <dl class="complaint-dues">
        ${[['ack', c.ack_due, c.acknowledged_at], ['respond', c.respond_due, c.responded_at], ['close', c.close_due, c.closed_at]].map(([s, due, done]) => html`
          <div data-step="${s}" class="${step && step[0] === s ? 'current' : ''}"><dt>${t('complaint.due.' + s)}</dt>
          <dd>${done != null ? html`✓ ${fmtDateTime(done)}` : due != null ? html`<span class="${c.overdue === s ? 'error' : ''}">${fmtDateTime(due)}</span>` : '—'}</dd></div>`)}
        ${c.confirmation ? html`<div><dt>${t('complaint.confirmation')}</dt><dd id="complaint-confirmation">${enumText('complaint.confirmation', c.confirmation)}</dd></div>` : ''}
        ${c.callback_attempts ? html`<div><dt>${t('complaint.attempts')}</dt><dd>${c.callback_attempts}</dd></div>` : ''}
      </dl>
      ${actions.length ? html`<form class="row" id="complaint-actions" aria-label="${t('complaint.actions')}">
        ${actions.map((a) => html`<button type="submit" name="action" value="${a}" data-action="${a}"
          ${a === 'close' && c.responded_at == null && !session.supervisor ? 'disabled' : ''}>${t('complaint.action.' + a)}</button>`)}
        <label class="small grow">${t('complaint.note')}<input name="note" id="complaint-note" maxlength="2000"></label>
      </form>` : ''}
      ${c.status === 'responded' ? html`<form class="row callback-panel" id="complaint-confirm" aria-label="${t('complaint.confirm_label')}">
        <span class="small"><strong>${t('complaint.confirm_label')}</strong> ${t('complaint.confirm_hint')}</span>
        ${['satisfied', 'not_satisfied', 'unreachable'].map((o) => html`<button type="submit" name="outcome" value="${o}" data-outcome="${o}">${enumText('complaint.outcome', o)}</button>`)}
        <label class="small grow">${t('complaint.note')}<input name="note" id="complaint-confirm-note" maxlength="2000"></label>
      </form>` : ''}
      <details id="complaint-timeline" ${historyOpen.has(this.id_) ? 'open' : ''}><summary>${t('complaint.timeline', { n: (c.transitions || []).length })}</summary>
        <ol class="small">${(c.transitions || []).map((x) => html`<li>${fmtDateTime(x.at_ms)} ·
          ${x.from_status ? html`${enumText('complaint.status', x.from_status)} → ` : ''}<strong>${enumText('complaint.status', x.to_status)}</strong>
          · ${enumText('complaint.reason', x.reason)} · ${x.actor_name || t('ticket.system')}${x.note ? html` · “${x.note}”` : ''}</li>`)}</ol>
      </details>
    </section>`);
    this.wire();
  }

  wire() {
    this.querySelector('#complaint-timeline').addEventListener('toggle', (e) => {
      if (e.target.open) historyOpen.add(this.id_);
      else historyOpen.delete(this.id_);
    });
    this.querySelector('#complaint-fields').addEventListener('change', (e) => {
      const f = e.target;
      const value = f.name === 'category_id' || f.name === 'severity' ? Number(f.value) : f.value;
      this.save({ [f.name]: value });
    });
    this.querySelector('#complaint-actions')?.addEventListener('submit', (e) => {
      e.preventDefault();
      if (e.submitter) this.act(e.submitter.value, e.target.note.value);
    });
    this.querySelector('#complaint-confirm')?.addEventListener('submit', (e) => {
      e.preventDefault();
      if (e.submitter) this.confirm(e.submitter.value, e.target.note.value);
    });
  }

  async save(body) {
    try {
      this.c = await api.put(`/api/tickets/${this.id_}/complaint`, body);
      notify(t('complaint.saved'));
    } catch (e) {
      notify(errorText(e), 'error');
    }
    this.draw();
  }

  async act(action, note) {
    if (action === 'reopen' && !note.trim()) {
      notify(t('complaint.note_needed'), 'error');
      this.querySelector('#complaint-note')?.focus();
      return;
    }
    try {
      this.c = await api.post(`/api/tickets/${this.id_}/complaint/transition`, { action, note });
      notify(t('complaint.moved', { status: enumText('complaint.status', this.c.status) }));
    } catch (e) {
      notify(errorText(e), 'error');
    }
    this.draw();
  }

  async confirm(outcome, note) {
    if (outcome === 'not_satisfied' && !note.trim()) {
      notify(t('complaint.note_needed'), 'error');
      this.querySelector('#complaint-confirm-note')?.focus();
      return;
    }
    try {
      this.c = await api.post(`/api/tickets/${this.id_}/complaint/confirmation`, { outcome, note });
      notify(t('complaint.confirmed', { outcome: enumText('complaint.outcome', outcome) }));
    } catch (e) {
      notify(errorText(e), 'error');
    }
    this.draw();
  }
}

customElements.define('hl-complaint-panel', HlComplaintPanel);
