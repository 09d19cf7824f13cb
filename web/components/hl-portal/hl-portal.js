// <hl-portal> — the public customer portal: submit a complaint, request or question (name,
// contact, description, attachments; a honeypot field and a signed form token instead of a
// third-party captcha), get the ticket number; look up a ticket's status with its number and
// the contact (status only), or open the link of the acknowledgement (`#status?t=<number>&k=<key>`:
// status, subject and our replies); search the public knowledge base.
// Usage: <hl-portal></hl-portal> in portal.html.

import { api, query } from '../../lib/api.js';
import { html, highlighted, render } from '../../lib/html.js';
import { errorText, fmtDateTime, i18n, t, LOCALES } from '../../lib/i18n.js';
import '../hl-kb-panel/hl-kb-panel.js';

const MAX_FILES = 3;
const MAX_BYTES = 2 * 1024 * 1024;

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(',')[1] || '');
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

class HlPortal extends HTMLElement {
  async connectedCallback() {
    await i18n.load(i18n.preferred());
    this.tab = location.hash.startsWith('#status') ? 'status' : location.hash === '#help' ? 'help' : 'submit';
    window.addEventListener('hl-locale', () => this.draw());
    window.addEventListener('hashchange', () => {
      const tab = location.hash.slice(1).split('?')[0];
      if (this.openLink()) return;
      if (['submit', 'status', 'help'].includes(tab) && tab !== this.tab) {
        this.tab = tab;
        this.draw();
      }
    });
    await this.fetchCategories();
    this.draw();
    this.fetchToken();
    this.openLink();
  }

  // The acknowledgement's status link: the key stays in the fragment (never sent in a request
  // line or Referer) and opens the conversation.
  openLink() {
    const [tab, q] = location.hash.slice(1).split('?');
    const p = new URLSearchParams(q || '');
    if (tab !== 'status' || !p.get('t') || !p.get('k')) return false;
    this.tab = 'status';
    this.statusNumber = p.get('t');
    this.fetchStatus({ key: p.get('k') });
    return true;
  }

  /** The complaint categories offered on the form (public list). */
  async fetchCategories() {
    try {
      this.categories = await api.get('/api/portal/complaint-categories');
    } catch {
      this.categories = [];
    }
  }

  async fetchToken() {
    try {
      const f = await api.get('/api/portal/form-token');
      this.token = f.token;
      this.minAge = f.min_age_ms;
      this.tokenAt = Date.now();
    } catch {
      this.token = null;
    }
  }

  draw() {
    const tabs = ['submit', 'status', 'help'];
    render(this, html`
      <header class="portal-head">
        <div><h1>${t('portal.title')}</h1><p class="muted">${t('portal.subtitle')}</p></div>
        <label>${t('nav.language')}<select id="portal-locale">${LOCALES.map((l) => html`<option value="${l}" ${l === i18n.locale ? 'selected' : ''}>${t('locale.' + l)}</option>`)}</select></label>
      </header>
      <nav class="portal-tabs" role="tablist" aria-label="${t('portal.sections')}">
        ${tabs.map((x) => html`<button role="tab" id="tab-${x}" aria-controls="pane-${x}" aria-selected="${this.tab === x}" tabindex="${this.tab === x ? 0 : -1}">${t('portal.tab.' + x)}</button>`)}
      </nav>
      <section class="panel" role="tabpanel" id="pane-${this.tab}" aria-labelledby="tab-${this.tab}">
        ${this.tab === 'submit' ? this.submitPane() : this.tab === 'status' ? this.statusPane() : html`<hl-kb-panel public></hl-kb-panel>`}
      </section>`);
    this.querySelector('#portal-locale').addEventListener('change', (e) => i18n.load(e.target.value));
    const tabButtons = [...this.querySelectorAll('[role=tab]')];
    for (const b of tabButtons) {
      b.addEventListener('click', () => this.select(b.id.slice(4)));
      b.addEventListener('keydown', (e) => {
        const i = tabButtons.indexOf(b);
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
          const next = tabButtons[(i + (e.key === 'ArrowRight' ? 1 : tabButtons.length - 1)) % tabButtons.length];
          this.select(next.id.slice(4));
          this.querySelector(`#${next.id}`).focus();
        }
      });
    }
    this.querySelector('#complaint-form')?.addEventListener('submit', (e) => this.submit(e));
    // The complaint questions only for a complaint.
    this.querySelector('#complaint-form')?.addEventListener('change', (e) => {
      if (e.target.name !== 'kind') return;
      this.kind = e.target.value;
      this.querySelector('#p-complaint').hidden = this.kind !== 'complaint';
    });
    this.querySelector('#status-form')?.addEventListener('submit', (e) => this.lookup(e));
  }

  select(tab) {
    this.tab = tab;
    history.replaceState(null, '', `#${tab}`);
    this.draw();
  }

  submitPane() {
    if (this.receipt) {
      return html`<div class="receipt" role="status" id="receipt" tabindex="-1">
        <h2>${t('portal.thanks')}</h2>
        <p>${t('portal.your_number')}</p>
        <p class="ticket-number" id="ticket-number">#${this.receipt.ticket_number}</p>
        <p class="muted">${t(this.receipt.acknowledged_by.includes('sms') ? 'portal.ack_sms'
          : this.receipt.acknowledged_by.includes('email') ? 'portal.ack_email' : 'portal.ack_none')}</p>
        <button type="button" id="another">${t('portal.another')}</button></div>`;
    }
    return html`
      <form id="complaint-form" class="portal-form" novalidate>
        <fieldset><legend>${t('portal.kind')}</legend>
          <div class="row">${['complaint', 'request', 'inquiry'].map((k) => html`
            <label class="choice"><input type="radio" name="kind" value="${k}" ${k === 'complaint' ? 'checked' : ''}> ${t('kind.' + k)}</label>`)}</div>
        </fieldset>
        <div class="form-grid">
          <label>${t('portal.name')} *<input name="name" id="p-name" autocomplete="name" required></label>
          <label>${t('portal.email')}<input name="email" id="p-email" type="email" autocomplete="email"></label>
          <label>${t('portal.phone')}<input name="phone" id="p-phone" type="tel" autocomplete="tel"></label>
        </div>
        <p class="muted small">${t('portal.contact_hint')}</p>
        <fieldset id="p-complaint" ${this.kind && this.kind !== 'complaint' ? 'hidden' : ''}><legend>${t('portal.complaint')}</legend>
          <div class="form-grid">
            <label>${t('portal.category')}<select name="category_id" id="p-category"><option value="">${t('portal.category_pick')}</option>
              ${(this.categories || []).map((c) => html`<option value="${c.id}">${i18n.locale === 'en' ? c.name_en : c.name_zh}</option>`)}</select></label>
            <label>${t('portal.order_ref')}<input name="order_ref" id="p-order" maxlength="200"></label>
            <label>${t('portal.desired_outcome')}<input name="desired_outcome" id="p-desired" maxlength="2000" placeholder="${t('portal.desired_outcome_hint')}"></label>
          </div>
          <div class="portal-questions">
            <label class="choice"><input type="checkbox" name="safety" id="p-safety"> ${t('portal.q_safety')}</label>
            <label class="choice"><input type="checkbox" name="money_lost" id="p-money"> ${t('portal.q_money_lost')}</label>
            <label class="choice"><input type="checkbox" name="ongoing" id="p-ongoing"> ${t('portal.q_ongoing')}</label>
          </div>
        </fieldset>
        <label>${t('portal.subject')}<input name="subject" id="p-subject" maxlength="200"></label>
        <label>${t('portal.description')} *<textarea name="description" id="p-description" rows="7" required></textarea></label>
        <label>${t('portal.attachments')}<input type="file" name="files" id="p-files" multiple>
          <span class="muted small">${t('portal.attachments_hint', { n: MAX_FILES, mb: MAX_BYTES / 1024 / 1024 })}</span></label>
        <div class="hp" aria-hidden="true"><label>${t('portal.leave_empty')}<input name="website" id="p-website" tabindex="-1" autocomplete="off"></label></div>
        <p class="error" role="alert" id="portal-error"></p>
        <button class="primary" type="submit" id="p-submit">${t('portal.send')}</button>
      </form>`;
  }

  statusPane() {
    const s = this.status;
    return html`
      <form id="status-form" class="form-grid">
        <label>${t('portal.ticket_number')}<input name="number" id="s-number" inputmode="numeric" required value="${this.statusNumber || ''}"></label>
        <label>${t('portal.contact')}<input name="contact" id="s-contact" required value="${this.statusContact || ''}"></label>
        <div class="row" style="align-self:end"><button class="primary" type="submit">${t('portal.check')}</button></div>
      </form>
      <p class="error" role="alert" id="status-error">${this.statusError || ''}</p>
      ${s ? html`<div id="status-result" class="status-result">
        <h2>#${s.ticket_number} ${s.subject || ''}</h2>
        <p><span class="badge ${s.status}">${t('status.' + s.status)}</span> · ${t('kind.' + s.kind)}
          · ${t('ticket.created')} ${fmtDateTime(s.created_at)} · ${t('ticket.updated')} ${fmtDateTime(s.updated_at)}</p>
        ${s.conversation ? html`<h3>${t('portal.replies')}</h3>
        ${s.replies.length ? s.replies.map((r) => html`<article class="msg out"><header><span>${t('channel.' + r.channel)}</span>
          <span>${fmtDateTime(r.created_at)}</span></header>${r.subject ? html`<strong>${r.subject}</strong>` : ''}<div class="body">${r.body}</div></article>`)
          : html`<p class="muted">${t('portal.no_replies')}</p>`}`
          : html`<p class="muted" id="status-only">${t('portal.status_only')}</p>`}
      </div>` : ''}`;
  }

  async submit(e) {
    e.preventDefault();
    const f = e.target;
    const err = this.querySelector('#portal-error');
    const button = this.querySelector('#p-submit');
    err.textContent = '';
    if (!f.name.value.trim() || !f.description.value.trim()) {
      err.textContent = t('portal.required');
      return;
    }
    if (!f.email.value.trim() && !f.phone.value.trim()) {
      err.textContent = t('portal.need_contact');
      return;
    }
    const files = [...f.files.files];
    if (files.length > MAX_FILES || files.some((x) => x.size > MAX_BYTES)) {
      err.textContent = t('portal.attachments_hint', { n: MAX_FILES, mb: MAX_BYTES / 1024 / 1024 });
      return;
    }
    button.disabled = true;
    button.textContent = t('portal.sending');
    try {
      if (!this.token) await this.fetchToken();
      // The token must have aged a little (bots submit at once); a quick typist waits a moment.
      const wait = (this.minAge || 0) - (Date.now() - this.tokenAt) + 200;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const attachments = await Promise.all(files.map(async (x) => ({ name: x.name, content_type: x.type, data: await readBase64(x) })));
      this.receipt = await api.post('/api/portal/complaints', {
        name: f.name.value,
        email: f.email.value.trim() || null,
        phone: f.phone.value.trim() || null,
        kind: f.kind.value,
        subject: f.subject.value,
        description: f.description.value,
        attachments,
        form_token: this.token,
        website: f.website.value,
        locale: i18n.locale,
        complaint: f.kind.value === 'complaint' ? {
          category_id: f.category_id.value ? Number(f.category_id.value) : null,
          order_ref: f.order_ref.value,
          desired_outcome: f.desired_outcome.value,
          safety: f.safety.checked,
          money_lost: f.money_lost.checked,
          ongoing: f.ongoing.checked,
        } : null,
      });
      this.draw();
      this.querySelector('#another').addEventListener('click', () => {
        this.receipt = null;
        this.fetchToken();
        this.draw();
      });
      this.querySelector('#receipt').focus?.();
    } catch (x) {
      const field = x.field ? (t('portal.' + x.field) !== 'portal.' + x.field ? t('portal.' + x.field) : x.field) : '';
      const why = errorText({ ...x, field: null });
      err.textContent = x.code === 'rate_limited' ? t('portal.limited') : x.code === 'bad_signature' ? t('portal.reload')
        : field ? t('error.with_field', { field, error: why }) : why;
      if (x.field === 'form_token' || x.code === 'bad_signature') this.fetchToken();
      button.disabled = false;
      button.textContent = t('portal.send');
    }
  }

  async lookup(e) {
    e.preventDefault();
    const f = e.target;
    this.statusNumber = f.number.value.trim().replace('#', '');
    this.statusContact = f.contact.value.trim();
    await this.fetchStatus({ contact: this.statusContact });
  }

  async fetchStatus(q) {
    try {
      this.status = await api.get(`/api/portal/tickets/${encodeURIComponent(this.statusNumber)}${query(q)}`);
      this.statusError = '';
    } catch (x) {
      this.status = null;
      this.statusError = x.status === 404 ? t('portal.not_found') : x.code === 'rate_limited' ? t('portal.limited') : errorText(x);
    }
    this.draw();
  }
}

customElements.define('hl-portal', HlPortal);
