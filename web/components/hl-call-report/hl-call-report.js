// <hl-call-report> — supervisors' disposition report: the calls answered or finished in a
// period (default: today in the center's time zone), counted per disposition code and queue,
// calls without a code on rows of their own (GET /api/reports/dispositions?from=&to=).
// Usage: <hl-call-report></hl-call-report> (the console shows it at #/admin/dispositions).

import { api, query } from '../../lib/api.js';
import { dispositionName } from '../../lib/calls.js';
import { html, render } from '../../lib/html.js';
import { errorText, fromLocalInput, startOfDay, t, toLocalInput } from '../../lib/i18n.js';

class HlCallReport extends HTMLElement {
  connectedCallback() {
    this.from = startOfDay();
    this.to = this.from + 86400000 - 1;
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  async load() {
    try {
      this.report = await api.get(`/api/reports/dispositions${query({
        from: new Date(this.from).toISOString(),
        to: new Date(this.to).toISOString(),
      })}`);
      this.error = null;
    } catch (e) {
      this.error = errorText(e);
    }
    this.draw();
  }

  draw() {
    const r = this.report;
    render(this, html`
      <h1>${t('calls.report')}</h1>
      <p class="muted small">${t('calls.report_hint')}</p>
      <form class="filters" id="report-form">
        <label>${t('calls.report_from')}<input type="datetime-local" name="from" id="report-from" value="${toLocalInput(this.from)}"></label>
        <label>${t('calls.report_to')}<input type="datetime-local" name="to" id="report-to" value="${toLocalInput(this.to)}"></label>
        <button class="primary" type="submit">${t('calls.report_show')}</button>
      </form>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      ${r ? html`<p id="report-total">${t('calls.report_total', { n: r.total })}</p>
        ${r.rows.length ? html`<table class="list" id="report-rows"><thead><tr>
            <th>${t('calls.disposition')}</th><th>${t('phone.queue')}</th><th class="num">${t('calls.report_calls')}</th></tr></thead>
          <tbody>${r.rows.map((x) => html`<tr data-code="${x.code || ''}">
            <td>${x.code ? dispositionName(x) : html`<span class="muted">${t('calls.no_disposition')}</span>`}</td>
            <td>${x.queue_name || html`<span class="muted">—</span>`}</td>
            <td class="num">${x.calls}</td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('calls.report_empty')}</p>`}` : ''}`);
    this.querySelector('#report-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      this.from = fromLocalInput(f.from.value) ?? this.from;
      this.to = fromLocalInput(f.to.value) ?? this.to;
      this.load();
    });
  }
}

customElements.define('hl-call-report', HlCallReport);
