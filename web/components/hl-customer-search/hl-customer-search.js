// <hl-customer-search q="…"> — finds a customer by phone, email, ID/VIP card, CRM id, name or
// #ticket through the 360 lookup and shows the result (or the new-customer form), and next to
// it the tickets whose subject or messages contain the words (ticket search); without a query,
// lists customers (filters tier and tag, "More" pages on with the list's cursor).
// Usage: <hl-customer-search q="138 0013 8000" tier="vip" tag="wholesale"></hl-customer-search>

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, subjectText, t } from '../../lib/i18n.js';
import { notify } from '../../lib/session.js';
import { slaBadge } from '../../lib/sla.js';
import '../hl-customer-view/hl-customer-view.js';

const TIERS = ['vip', 'key', 'regular', 'low'];
const PAGE = 50;

class HlCustomerSearch extends HTMLElement {
  connectedCallback() {
    this.q = this.getAttribute('q') || '';
    this.tier = this.getAttribute('tier') || '';
    this.tag = this.getAttribute('tag') || '';
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.draw();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  /** The list's filter form (tier, tag); changing it reloads the list from the start. */
  filters() {
    return html`<form class="filters" id="customer-filters" aria-label="${t('customers.filters')}">
      <label>${t('customer.tier')}<select name="tier" id="filter-tier"><option value="">${t('customers.any_tier')}</option>
        ${TIERS.map((x) => html`<option value="${x}" ${x === this.tier ? 'selected' : ''}>${t('tier.' + x)}</option>`)}</select></label>
      <label>${t('customers.tag')}<input name="tag" id="filter-tag" value="${this.tag}" placeholder="${t('customers.tag_hint')}"></label>
      <button type="submit">${t('customers.filter')}</button>
    </form>`;
  }

  /** Reads the next page (after the last one shown) and appends it. */
  async page(out) {
    const page = await api.get(`/api/customers${query({ tier: this.tier || undefined, tag: this.tag || undefined, limit: PAGE, after_id: this.next || undefined })}`);
    this.items = this.items.concat(page.items);
    this.next = page.next;
    render(out, html`${this.filters()}
      ${this.items.length ? html`<table class="list" id="customer-list"><thead><tr><th>${t('customer.name')}</th><th>${t('customer.tier')}</th><th>${t('customers.tags')}</th><th>${t('customer.identities')}</th></tr></thead>
        <tbody>${this.items.map((c) => html`<tr data-id="${c.id}"><td class="name"><a href="#/customer/${c.id}">${c.display_name}</a></td>
          <td class="nowrap"><span class="badge ${c.tier}">${t('tier.' + c.tier)}</span></td>
          <td class="small">${c.tags.map((tag) => html`<span class="badge">${tag}</span> `)}</td>
          <td class="small">${c.identities.map((i) => i.value).join(' · ')}</td></tr>`)}</tbody></table>
        <p class="small muted" id="customer-count">${t('customers.shown', { n: this.items.length })}</p>
        ${this.next ? html`<button type="button" id="more-customers">${t('customers.more')}</button>` : ''}`
        : html`<p class="empty">${this.tier || this.tag ? t('customers.none_match') : t('customers.none')}</p>`}`);
    for (const tr of out.querySelectorAll('tbody tr')) tr.onclick = (e) => {
      if (!e.target.closest('a')) location.hash = `#/customer/${tr.dataset.id}`;
    };
    out.querySelector('#customer-filters').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      const params = new URLSearchParams();
      if (f.tier.value) params.set('tier', f.tier.value);
      if (f.tag.value.trim()) params.set('tag', f.tag.value.trim());
      const qs = params.toString();
      location.hash = `#/customers${qs ? `?${qs}` : ''}`;
    });
    out.querySelector('#filter-tier').addEventListener('change', (e) => e.target.form.requestSubmit());
    const more = out.querySelector('#more-customers');
    if (more) {
      more.addEventListener('click', async () => {
        const shown = this.items.length;
        try {
          await this.page(out);
          // Keyboard users continue at the first new row.
          out.querySelectorAll('tbody tr a')[shown]?.focus();
        } catch (e) {
          notify(errorText(e), 'error');
        }
      });
    }
  }

  async draw() {
    render(this, html`
      <h1>${t('customers.title')}</h1>
      <form class="filters" id="lookup-form" role="search">
        <label class="grow">${t('search.label')}<input type="search" name="q" id="lookup-q" value="${this.q}" placeholder="${t('search.placeholder')}"></label>
        <button class="primary" type="submit">${t('search.go')}</button>
      </form>
      <div class="${this.q ? 'search-split' : ''}"><div id="lookup-result"></div>
        ${this.q ? html`<section id="ticket-hits" aria-labelledby="ticket-hits-title"><h2 id="ticket-hits-title">${t('search.tickets')}</h2>
          <p class="muted">${t('common.loading')}</p></section>` : ''}</div>`);
    this.querySelector('#lookup-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = e.target.q.value.trim();
      location.hash = `#/customers${q ? `?q=${encodeURIComponent(q)}` : ''}`;
    });
    const out = this.querySelector('#lookup-result');
    if (this.q) this.drawTickets();
    try {
      if (this.q) {
        const view = await api.get(`/api/customers/lookup${query({ q: this.q })}`);
        render(out, html`<hl-customer-view></hl-customer-view>`);
        out.querySelector('hl-customer-view').showView(view);
      } else {
        this.items = [];
        this.next = null;
        await this.page(out);
      }
    } catch (e) {
      render(out, html`<p class="error" role="alert">${errorText(e)}</p>`);
    }
  }
}

HlCustomerSearch.prototype.drawTickets = async function drawTickets() {
  const box = this.querySelector('#ticket-hits');
  const title = html`<h2 id="ticket-hits-title">${t('search.tickets')}</h2>`;
  try {
    const list = await api.get(`/api/tickets${query({ q: this.q, limit: 20 })}`);
    render(box, html`${title}${list.length ? html`<ul class="ticket-hits">${list.map((x) => html`<li data-id="${x.id}">
        <a href="#/ticket/${x.id}">#${x.id} ${subjectText(x)}</a>
        <span class="badge ${x.status}">${t('status.' + x.status)}</span> ${slaBadge(x.sla)}
        <span class="muted small">${fmtDateTime(x.updated_at)}</span></li>`)}</ul>`
      : html`<p class="empty">${t('search.no_tickets')}</p>`}`);
  } catch (e) {
    render(box, html`${title}<p class="error" role="alert">${errorText(e)}</p>`);
  }
};

customElements.define('hl-customer-search', HlCustomerSearch);
