// <hl-kb-proposals> — admins review the similar questions learnt from answered tickets: each
// proposal shows the customer's words, the article and the ticket; Accept adds the wording (as
// it stands in the box, which may be reworded) to the article's questions, searched at once;
// Reject keeps it from being proposed again (GET /api/kb/proposals, POST …/accept, …/reject).
// Usage: <hl-kb-proposals></hl-kb-proposals> (the console's #/admin/kb-proposals).

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, t } from '../../lib/i18n.js';
import { notify } from '../../lib/session.js';

class HlKbProposals extends HTMLElement {
  connectedCallback() {
    this.status = 'pending';
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  async load() {
    try {
      this.items = await api.get(`/api/kb/proposals${query({ status: this.status })}`);
      this.error = null;
    } catch (e) {
      this.error = errorText(e);
    }
    this.draw();
  }

  draw() {
    const items = this.items || [];
    render(this, html`
      <h1>${t('kbp.title')}</h1>
      <p class="muted small">${t('kbp.hint')}</p>
      <div class="row" role="tablist">${['pending', 'accepted', 'rejected'].map((s) => html`
        <button type="button" role="tab" data-status="${s}" aria-selected="${this.status === s}">${t('kbp.status.' + s)}</button>`)}</div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      ${items.length ? html`<table class="list" id="kbp-rows"><thead><tr>
          <th>${t('kbp.question')}</th><th>${t('kbp.article')}</th><th>${t('kbp.ticket')}</th><th>${t('kbp.when')}</th><th></th></tr></thead>
        <tbody>${items.map((p) => html`<tr data-proposal="${p.id}">
          <td>${this.status === 'pending' ? html`<input style="width:100%" data-wording="${p.id}" value="${p.question}" maxlength="200" aria-label="${t('kbp.question')}">` : p.question}</td>
          <td>${p.article_title} <span class="muted small">${p.article_lang}</span></td>
          <td>${p.ticket_id ? html`<a href="#/ticket/${p.ticket_id}">#${p.ticket_id}</a>` : '—'}</td>
          <td class="small">${fmtDateTime(p.decided_at || p.created_at)}</td>
          <td class="nowrap">${this.status === 'pending' ? html`
            <button type="button" class="primary small" data-accept="${p.id}">${t('kbp.accept')}</button>
            <button type="button" class="small" data-reject="${p.id}">${t('kbp.reject')}</button>` : ''}</td></tr>`)}</tbody></table>`
        : html`<p class="empty" id="kbp-empty">${t('kbp.empty')}</p>`}`);
    for (const b of this.querySelectorAll('[data-status]')) {
      b.addEventListener('click', () => {
        this.status = b.dataset.status;
        this.load();
      });
    }
    for (const b of this.querySelectorAll('[data-accept]')) {
      b.addEventListener('click', () => {
        const question = this.querySelector(`[data-wording="${b.dataset.accept}"]`).value.trim();
        this.decide(`/api/kb/proposals/${b.dataset.accept}/accept`, { question }, 'kbp.accepted');
      });
    }
    for (const b of this.querySelectorAll('[data-reject]')) {
      b.addEventListener('click', () => this.decide(`/api/kb/proposals/${b.dataset.reject}/reject`, {}, 'kbp.rejected'));
    }
  }

  async decide(path, body, done) {
    try {
      await api.post(path, body);
      notify(t(done));
    } catch (e) {
      notify(errorText(e), 'error');
    }
    this.load();
  }
}

customElements.define('hl-kb-proposals', HlKbProposals);
