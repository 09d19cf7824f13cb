// <hl-customer-search q="…"> — finds a customer by phone, email, ID/VIP card, CRM id, name or
// #ticket through the 360 lookup and shows the result (or the new-customer form), and next to
// it the tickets whose subject or messages contain the words (ticket search); without a
// query, lists customers. Usage: <hl-customer-search q="138 0013 8000"></hl-customer-search>

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, subjectText, t } from '../../lib/i18n.js';
import { slaBadge } from '../../lib/sla.js';
import '../hl-customer-view/hl-customer-view.js';

class HlCustomerSearch extends HTMLElement {
  connectedCallback() {
    this.q = this.getAttribute('q') || '';
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.draw();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
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
        const page = await api.get('/api/customers?limit=50');
        render(out, page.items.length ? html`<table class="list"><thead><tr><th>${t('customer.name')}</th><th>${t('customer.tier')}</th><th>${t('customer.identities')}</th></tr></thead>
          <tbody>${page.items.map((c) => html`<tr data-id="${c.id}"><td class="name"><a href="#/customer/${c.id}">${c.display_name}</a></td>
            <td class="nowrap"><span class="badge ${c.tier}">${t('tier.' + c.tier)}</span></td>
            <td class="small">${c.identities.map((i) => i.value).join(' · ')}</td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('customers.none')}</p>`);
        for (const tr of out.querySelectorAll('tbody tr')) tr.onclick = () => (location.hash = `#/customer/${tr.dataset.id}`);
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
