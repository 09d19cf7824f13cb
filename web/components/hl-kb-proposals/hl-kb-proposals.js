// <hl-kb-proposals> — admins review the similar questions learnt from answered tickets: each
// proposal shows the customer's words, the article and the ticket; Accept adds the wording (as
// it stands in the box, which may be reworded) to the article's questions, searched at once;
// Reject keeps it from being proposed again (GET /api/kb/proposals, POST …/accept, …/reject).
// Below, the search vocabulary by hand: an article's similar questions (find the article, one
// question per line; PATCH /api/kb/articles/{id}) and the synonym groups (one group per line,
// words joined by "=" or commas; PUT /api/kb/synonyms), both searched at once.
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
      if (!this.synonyms) this.synonyms = (await api.get('/api/kb/synonyms')).groups;
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
        : html`<p class="empty" id="kbp-empty">${t('kbp.empty')}</p>`}
      <section class="card" id="kbq">
        <h2>${t('kbq.title')}</h2>
        <p class="muted small">${t('kbq.hint')}</p>
        <form id="kbq-find" class="row"><input id="kbq-q" type="search" value="${this.q || ''}" placeholder="${t('kbq.find')}" aria-label="${t('kbq.find')}" class="grow">
          <button type="submit">${t('kbq.search')}</button></form>
        ${(this.found || []).length ? html`<div class="row" id="kbq-hits" style="flex-wrap:wrap">${this.found.map((h) => html`
          <button type="button" class="small" data-edit="${h.id}">${h.title} <span class="muted">${h.lang}</span></button>`)}</div>` : ''}
        ${this.editing ? html`<form id="kbq-edit">
          <label for="kbq-lines"><strong>${this.editing.title}</strong> — ${t('kbq.one_per_line')}</label>
          <textarea id="kbq-lines" rows="6" style="width:100%">${this.editing.questions.join('\n')}</textarea>
          <button type="submit" class="primary" id="kbq-save">${t('kbq.save')}</button></form>` : ''}
      </section>
      <section class="card" id="kbs">
        <h2>${t('kbs.title')}</h2>
        <p class="muted small">${t('kbs.hint')}</p>
        <form id="kbs-edit"><textarea id="kbs-lines" rows="6" style="width:100%" aria-label="${t('kbs.title')}">${(this.synonyms || []).map((g) => g.join(' = ')).join('\n')}</textarea>
          <button type="submit" class="primary" id="kbs-save">${t('kbs.save')}</button></form>
      </section>`);
    this.querySelector('#kbq-find').addEventListener('submit', (e) => {
      e.preventDefault();
      this.find(this.querySelector('#kbq-q').value.trim());
    });
    for (const b of this.querySelectorAll('[data-edit]')) {
      b.addEventListener('click', () => this.edit(Number(b.dataset.edit)));
    }
    const edit = this.querySelector('#kbq-edit');
    if (edit) edit.addEventListener('submit', (e) => this.saveQuestions(e));
    this.querySelector('#kbs-edit').addEventListener('submit', (e) => this.saveSynonyms(e));
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

  async find(q) {
    this.q = q;
    try {
      this.found = q ? (await api.get(`/api/kb/search${query({ q, limit: 8 })}`)).hits : [];
    } catch (e) {
      notify(errorText(e), 'error');
    }
    this.draw();
  }

  async edit(id) {
    try {
      this.editing = await api.get(`/api/kb/articles/${id}`);
    } catch (e) {
      notify(errorText(e), 'error');
    }
    this.draw();
  }

  async saveQuestions(e) {
    e.preventDefault();
    const questions = this.querySelector('#kbq-lines').value.split('\n').map((l) => l.trim()).filter(Boolean);
    try {
      this.editing = await api.patch(`/api/kb/articles/${this.editing.id}`, { questions });
      notify(t('kbq.saved'));
    } catch (err) {
      notify(errorText(err), 'error');
    }
    this.draw();
  }

  async saveSynonyms(e) {
    e.preventDefault();
    const groups = this.querySelector('#kbs-lines').value.split('\n')
      .map((l) => l.split(/\s*[=,，、]\s*/).map((w) => w.trim()).filter(Boolean))
      .filter((g) => g.length);
    try {
      this.synonyms = (await api.put('/api/kb/synonyms', { groups })).groups;
      notify(t('kbs.saved'));
    } catch (err) {
      notify(errorText(err), 'error');
    }
    this.draw();
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
