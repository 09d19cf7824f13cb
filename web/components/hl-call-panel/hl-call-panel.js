// <hl-call-panel> — the agent's current call under the top bar: the number and state while it
// rings or talks, hold and transfer (offered only where Twilio or the PBX supports them through
// Hotline, else shown disabled with the reason), and at the end of the call (wrap-up) the
// disposition codes to pick one from (POST /api/calls/{id}/disposition). Follows the agent's
// `call.updated` events and the calls they dial; hidden when there is no call to show.
// Transfer (Twilio, incoming calls while talking) puts the caller through to a chosen agent.
// Usage: <hl-call-panel></hl-call-panel> (once, in the console's shell).

import { api } from '../../lib/api.js';
import {
  callCapabilities, callControls, dispositionCodes, dispositionName, setDisposition, transferCall,
} from '../../lib/calls.js';
import { html, render } from '../../lib/html.js';
import { enumText, t } from '../../lib/i18n.js';
import { icon } from '../../lib/icons.js';
import { session } from '../../lib/session.js';

const OVER = ['wrap_up', 'ended', 'abandoned'];

class HlCallPanel extends HTMLElement {
  connectedCallback() {
    this.call = null;
    this.onEvent = (e) => {
      const ev = e.detail;
      if (ev.kind !== 'call.updated') return;
      const p = ev.payload || {};
      if (p.agent_id !== session.user.id) return;
      // A new call of mine replaces the one shown unless that one still waits for its code.
      if (this.call && this.call.id !== p.id && OVER.includes(this.call.state) && this.call.disposition_id == null && !OVER.includes(p.state)) {
        this.queued = p;
        return;
      }
      this.show({ ...(this.call && this.call.id === p.id ? this.call : {}), ...p });
    };
    this.onDialled = (e) => e.detail && e.detail.call && this.show(e.detail.call);
    this.onLocale = () => this.draw();
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-dialled', this.onDialled);
    window.addEventListener('hl-locale', this.onLocale);
    this.loadActive();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-dialled', this.onDialled);
    window.removeEventListener('hl-locale', this.onLocale);
  }

  /** After a reload: the agent's call that is not over, or one in wrap-up without a code. */
  async loadActive() {
    try {
      const calls = await api.get('/api/calls?limit=5');
      const mine = calls.filter((c) => c.agent_id === session.user.id);
      const open = mine.find((c) => !OVER.includes(c.state)) || mine.find((c) => c.state === 'wrap_up' && c.disposition_id == null);
      if (open) this.show(open);
    } catch {
      /* the panel stays hidden */
    }
  }

  async show(call) {
    this.call = call;
    [this.cap, this.codes] = await Promise.all([callCapabilities(), dispositionCodes()]);
    this.draw();
  }

  number(c) {
    return c.direction === 'out' ? (c.to_number || c.to) : (c.from_number || c.from);
  }

  draw() {
    const c = this.call;
    if (!c) {
      render(this, '');
      this.hidden = true;
      return;
    }
    this.hidden = false;
    const over = OVER.includes(c.state);
    const chosen = c.disposition_id != null ? (this.codes || []).find((d) => d.id === c.disposition_id) : null;
    render(this, html`<section class="call-panel panel" id="call-panel" data-call="${c.id}" data-state="${c.state}" aria-labelledby="call-panel-h">
      <div class="row">
        <strong id="call-panel-h">${icon('voice')} ${t(c.direction === 'out' ? 'call.outbound' : 'call.inbound')}</strong>
        <span class="number">${this.number(c)}</span>
        <span class="badge" id="call-state">${enumText('calls.state', c.state)}</span>
        ${c.ticket_id ? html`<a href="#/ticket/${c.ticket_id}">#${c.ticket_id}</a>` : ''}
        <span class="grow"></span>
        ${over ? '' : callControls(this.cap, c)}
        ${over ? html`<button type="button" class="small" id="call-panel-close">${t('common.close')}</button>` : ''}
      </div>
      ${!over && this.transferring ? html`<form class="row" id="transfer-form" aria-label="${t('calls.control.transfer')}">
        <label class="small">${t('calls.transfer_to')}<select name="user_id" id="transfer-to" required>
          ${session.users.filter((u) => u.active !== false && u.id !== session.user.id && u.role !== 'admin')
            .map((u) => html`<option value="${u.id}">${u.display_name || u.login}</option>`)}</select></label>
        <button type="submit" class="primary">${t('calls.control.transfer')}</button>
        <button type="button" id="transfer-cancel">${t('common.cancel')}</button>
      </form>` : ''}
      ${over ? html`<div class="row disposition-pick" id="disposition-pick" role="group" aria-label="${t('calls.disposition')}">
        <span class="small">${chosen ? html`${t('calls.disposition')}: <strong id="disposition-chosen">${dispositionName(chosen)}</strong>` : t('calls.pick_disposition')}</span>
        ${(this.codes || []).map((d) => html`<button type="button" class="${d.id === c.disposition_id ? 'primary' : ''}"
          data-disposition-id="${d.id}" data-code="${d.code}" aria-pressed="${d.id === c.disposition_id}">${dispositionName(d)}</button>`)}
        ${(this.codes || []).length ? '' : html`<span class="small muted">${t('calls.no_codes')}</span>`}
      </div>` : ''}
    </section>`);
    this.querySelector('[data-call-control="transfer"]:not([disabled])')?.addEventListener('click', () => {
      this.transferring = !this.transferring;
      this.draw();
    });
    this.querySelector('#transfer-cancel')?.addEventListener('click', () => {
      this.transferring = false;
      this.draw();
    });
    this.querySelector('#transfer-form')?.addEventListener('submit', async (e) => {
      e.preventDefault();
      const moved = await transferCall(c.id, Number(e.target.user_id.value));
      if (!moved) return;
      // The call is the other agent's now.
      this.transferring = false;
      this.call = null;
      this.draw();
    });
    this.querySelector('#call-panel-close')?.addEventListener('click', () => {
      this.call = this.queued || null;
      this.queued = null;
      this.draw();
    });
    for (const b of this.querySelectorAll('[data-disposition-id]')) {
      b.addEventListener('click', async () => {
        b.disabled = true;
        const saved = await setDisposition(c.id, Number(b.dataset.dispositionId));
        if (saved) this.call = { ...this.call, ...saved };
        this.draw();
      });
    }
  }
}

customElements.define('hl-call-panel', HlCallPanel);
