// <hl-kb-panel> — knowledge search as you type, results with highlighted matches, and "insert"
// into the open ticket's reply: only a public article's customer-facing answer, as plain text,
// in the customer's language (internal articles offer no insert). An opened article shows its
// answer as the server's sanitized HTML and, for agents, its internal section apart. Public mode
// (attribute `public`) searches only public articles and has no insert. Hides itself with a note when the knowledge base is not available.
// While the query is empty it shows the open ticket's suggested articles (`hl-suggestions`).
// Usage: <hl-kb-panel></hl-kb-panel>  /  <hl-kb-panel public></hl-kb-panel>

import { api, query } from '../../lib/api.js';
import { html, highlighted, raw, render } from '../../lib/html.js';
import { enumText, errorText, t } from '../../lib/i18n.js';
import { notify, session } from '../../lib/session.js';

class HlKbPanel extends HTMLElement {
  connectedCallback() {
    this.q = '';
    this.hits = [];
    this.onLocale = () => this.draw();
    this.suggested = [];
    this.onSuggest = (e) => {
      this.suggested = e.detail.hits || [];
      if (!this.q.trim()) this.redrawResults();
    };
    window.addEventListener('hl-locale', this.onLocale);
    if (!this.public) window.addEventListener('hl-suggestions', this.onSuggest);
    this.draw();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
    window.removeEventListener('hl-suggestions', this.onSuggest);
  }

  get public() {
    return this.hasAttribute('public');
  }

  get base() {
    return this.public ? '/api/portal/kb' : '/api/kb';
  }

  draw() {
    render(this, html`
      <h2 id="kb-h">${t('kb.title')}</h2>
      <label class="sr-only" for="kb-q">${t('kb.search')}</label>
      <input type="search" id="kb-q" placeholder="${t('kb.placeholder')}" value="${this.q}" autocomplete="off" aria-describedby="kb-status">
      <p id="kb-status" class="muted small" aria-live="polite">${this.status || ''}</p>
      <div id="kb-results">${this.results()}</div>`);
    const input = this.querySelector('#kb-q');
    input.addEventListener('input', () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.search(input.value), 200);
    });
  }

  results() {
    const suggesting = !this.q.trim() && this.suggested.length;
    const hits = suggesting ? this.suggested : this.hits;
    return html`${suggesting ? html`<h3 id="kb-suggested">${t('kb.suggested')}</h3>` : ''}${hits.map((h) => html`<article class="kb-hit" data-article="${h.id}">
      <h4><a href="#" data-open="${h.id}" aria-expanded="false">${h.title}</a></h4>
      <div class="kb-article" id="kb-article-${h.id}" hidden></div>
      ${h.snippet ? html`<p>${highlighted(h.snippet)}</p>` : ''}
      <div class="row small"><span class="muted">${enumText('lang', h.lang)} · ${enumText('kb.category', h.category)}${h.audience === 'internal' ? html` · <span class="badge">${t('kb.internal')}</span>` : ''}</span><span class="grow"></span>
        ${this.public ? '' : html`<button class="small" data-answered="${h.id}" title="${t('kb.answered_hint')}">${t('kb.answered')}</button>`}
        ${this.public || h.audience !== 'public' ? '' : html`<button class="small" data-insert="${h.id}">${t('kb.insert')}</button>`}</div>
    </article>`)}`;
  }

  async search(q) {
    this.q = q;
    const seq = (this.seq = (this.seq || 0) + 1);
    if (!q.trim()) {
      this.hits = [];
      this.status = '';
      this.redrawResults();
      return;
    }
    try {
      const res = await api.get(`${this.base}/search${query({ q, limit: 8 })}`);
      if (seq !== this.seq) return;
      this.hits = Array.isArray(res) ? res : res.hits || [];
      this.status = this.hits.length ? t('kb.found', { n: this.hits.length }) : t('kb.nothing');
    } catch (e) {
      this.hits = [];
      this.status = e.missing ? t('kb.unavailable') : errorText(e);
    }
    this.redrawResults();
  }

  redrawResults() {
    render(this.querySelector('#kb-results'), this.results());
    this.querySelector('#kb-status').textContent = this.status || '';
    for (const a of this.querySelectorAll('[data-open]')) {
      a.addEventListener('click', (e) => {
        e.preventDefault();
        this.open(Number(a.dataset.open), a);
      });
    }
    for (const b of this.querySelectorAll('[data-insert]')) {
      b.addEventListener('click', () => {
        this.use(Number(b.dataset.insert));
      });
    }
    for (const b of this.querySelectorAll('[data-answered]')) {
      b.addEventListener('click', () => this.answered(Number(b.dataset.answered)));
    }
  }

  /** Shows or hides the article under its title: the answer, and the internal section apart. */
  async open(id, link) {
    const box = this.querySelector(`#kb-article-${id}`);
    if (!box.hidden) {
      box.hidden = true;
      link.setAttribute('aria-expanded', 'false');
      return;
    }
    try {
      // Both HTML parts come sanitized by the server (Markdown rendered, then ammonia).
      const a = await api.get(`${this.base}/articles/${id}`);
      render(box, html`<div class="kb-answer">${raw(a.answer_html || '')}</div>${a.internal_html
        ? html`<section class="kb-internal"><h5>${t('kb.internal')}</h5>${raw(a.internal_html)}</section>` : ''}`);
    } catch (e) {
      box.textContent = e.missing ? t('kb.unavailable') : errorText(e);
    }
    box.hidden = false;
    link.setAttribute('aria-expanded', 'true');
  }

  /** The open ticket's customer's language, when known. */
  async customerLang() {
    const ticket = session.currentTicket;
    if (!ticket || !ticket.customer_id) return null;
    try {
      const c = await api.get(`/api/customers/${ticket.customer_id}`);
      return (c.customer || c).language || null;
    } catch {
      return null;
    }
  }

  /** Inserts the article's customer-facing answer (plain text) into the open reply. */
  async use(id) {
    let answer;
    try {
      const lang = await this.customerLang();
      answer = await api.get(`/api/kb/articles/${id}/answer${query(lang ? { lang } : {})}`);
    } catch (e) {
      notify(errorText(e));
      return;
    }
    window.dispatchEvent(new CustomEvent('hl-insert', { detail: { text: `${answer.text}\n` } }));
    if (session.currentTicket) {
      api.post(`/api/kb/articles/${answer.article_id}/used`, { ticket_id: session.currentTicket.id }).catch(() => {});
    } else {
      notify(t('kb.open_ticket_first'));
    }
  }

  /** Marks the article as what answered the open ticket's question (nothing is inserted). */
  async answered(id) {
    if (!session.currentTicket) {
      notify(t('kb.open_ticket_first'));
      return;
    }
    try {
      await api.post(`/api/kb/articles/${id}/answered`, { ticket_id: session.currentTicket.id });
      notify(t('kb.answered_done'));
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }
}

customElements.define('hl-kb-panel', HlKbPanel);
