// <hl-reports> — the reports for supervisors (their queues) and admins (all): a date range in
// the center's time zone (default the last 7 days), an interval and a queue, and six tabs —
// volume, service, agents, complaints, CSAT and customer value — each with a chart (<hl-plot>),
// a table, its CSV (the API's `.csv` twin with the same parameters; the value tab's table is
// written here) and the chart as a PNG. API: GET /api/reports/{volume,service,agents,
// complaints,csat-trend,value}. Usage: <hl-reports tab="volume"></hl-reports> (#/reports).

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, fmtDuration, i18n, startOfDay, t, toLocalInput, zonedToMs } from '../../lib/i18n.js';
import { session } from '../../lib/session.js';
import { complaintLists, localName } from '../hl-complaint-panel/hl-complaint-panel.js';
import { download } from '../hl-plot/hl-plot.js';
import '../hl-plot/hl-plot.js';

const TABS = ['volume', 'service', 'agents', 'complaints', 'csat', 'value'];
const PATHS = { volume: 'volume', service: 'service', agents: 'agents', complaints: 'complaints', csat: 'csat-trend' };
const INTERVALS = ['15m', 'hour', 'day'];
const STEP = { '15m': 15 * 60000, hour: 3600000 };
const DAY = 86400000;
/** Label every k-th period of the axis, k round for the interval (hours, days, weeks). */
const LABEL_STEPS = { '15m': [1, 2, 4, 8, 12, 24, 48, 96, 192, 288, 672], hour: [1, 2, 3, 4, 6, 12, 24, 48, 72, 168], day: [1, 2, 7, 14, 28, 56] };

/** The date (YYYY-MM-DD) of `ms` in the center's time zone. */
const dateOf = (ms) => toLocalInput(ms).slice(0, 10);

class HlReports extends HTMLElement {
  connectedCallback() {
    const today = startOfDay();
    const a = (name) => this.getAttribute(name) || '';
    const date = (s) => (/^\d{4}-\d{2}-\d{2}$/.test(s) ? s : '');
    this.f = {
      from: date(a('from')) || dateOf(today - 6 * DAY + DAY / 2),
      to: date(a('to')) || dateOf(today + DAY / 2),
      interval: INTERVALS.includes(a('interval')) ? a('interval') : 'day',
      queue: /^\d+$/.test(a('queue')) ? a('queue') : '',
    };
    this.tab = TABS.includes(a('tab')) ? a('tab') : 'volume';
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  /** The queues whose reports this user may read: admins all, supervisors their own. */
  queues() {
    if (session.admin) return session.queues;
    return session.queues.filter((q) => !Array.isArray(q.members) || q.members.includes(session.user.id));
  }

  params() {
    return { from: this.f.from, to: this.f.to, interval: this.f.interval, queue: this.f.queue || undefined };
  }

  async load() {
    const tab = this.tab;
    // Kept in the hash without routing again (replaceState fires no hashchange).
    history.replaceState(null, '', `#/reports${query({ tab, ...this.params() })}`);
    const seq = (this.seq = (this.seq || 0) + 1);
    this.data = null;
    this.error = null;
    this.draw();
    try {
      const [data, lists] = await Promise.all([
        api.get(tab === 'value' ? '/api/reports/value' : `/api/reports/${PATHS[tab]}${query(this.params())}`),
        tab === 'complaints' ? complaintLists() : null,
      ]);
      if (seq !== this.seq) return;
      this.data = data;
      this.lists = lists || this.lists;
    } catch (e) {
      if (seq !== this.seq) return;
      this.error = e.status === 403 ? t('reports.forbidden') : errorText(e);
    }
    this.draw();
  }

  // ---- formatting ----

  num(n) {
    return n == null ? '—' : new Intl.NumberFormat(i18n.locale).format(n);
  }

  /** A share 0..1 as "78.5%". */
  pct(x) {
    return x == null ? '—' : new Intl.NumberFormat(i18n.locale, { style: 'percent', maximumFractionDigits: 1 }).format(x);
  }

  secs(s) {
    return s == null ? '—' : fmtDuration(s);
  }

  /** A period's start: the full date (and time) for tables, short for the chart's axis. */
  periodText(ms, short) {
    const zone = i18n.timeZone;
    const day = this.data.interval === 'day';
    if (short) {
      const multiDay = this.f.from !== this.f.to;
      const midnight = toLocalInput(ms).endsWith('T00:00');
      if (day || (multiDay && midnight)) return new Intl.DateTimeFormat(i18n.locale, { month: 'numeric', day: 'numeric', timeZone: zone }).format(ms);
      return new Intl.DateTimeFormat(i18n.locale, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone }).format(ms);
    }
    return new Intl.DateTimeFormat(i18n.locale, day
      ? { year: 'numeric', month: 'short', day: 'numeric', weekday: 'short', timeZone: zone }
      : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone }).format(ms);
  }

  /** Every period of the range (the API lists only those with figures). */
  slots() {
    const d = this.data;
    const out = [];
    if (d.interval === 'day') {
      const [y, m, day] = this.f.from.split('-').map(Number);
      for (let k = 0; k < 400; k++) {
        const at = new Date(Date.UTC(y, m - 1, day + k));
        const ms = zonedToMs(at.getUTCFullYear(), at.getUTCMonth() + 1, at.getUTCDate());
        if (ms >= d.to_ms) break;
        out.push(ms);
      }
    } else {
      for (let ms = d.from_ms; ms < d.to_ms; ms += STEP[d.interval]) out.push(ms);
    }
    return out;
  }

  // ---- drawing ----

  draw() {
    const f = this.f;
    const value = this.tab === 'value';
    render(this, html`
      <h1>${t('reports.title')}</h1>
      <form class="filters" id="report-filters" aria-label="${t('reports.filters')}">
        <label>${t('reports.from')}<input type="date" name="from" value="${f.from}" required ${value ? 'disabled' : ''}></label>
        <label>${t('reports.to')}<input type="date" name="to" value="${f.to}" required ${value ? 'disabled' : ''}></label>
        <label>${t('reports.interval')}<select name="interval" ${value ? 'disabled' : ''}>
          ${INTERVALS.map((i) => html`<option value="${i}" ${f.interval === i ? 'selected' : ''}>${t('reports.interval.' + i)}</option>`)}</select></label>
        <label>${t('reports.queue')}<select name="queue" ${value ? 'disabled' : ''}><option value="">${t('reports.all_queues')}</option>
          ${this.queues().map((q) => html`<option value="${q.id}" ${String(q.id) === String(f.queue) ? 'selected' : ''}>${q.name}</option>`)}</select></label>
      </form>
      <div role="tablist" class="tabs" id="report-tabs" aria-label="${t('reports.title')}">
        ${TABS.map((x) => html`<button type="button" role="tab" data-tab="${x}" aria-selected="${this.tab === x}">${t('reports.tab.' + x)}</button>`)}
      </div>
      <section class="panel report" role="tabpanel" aria-labelledby="report-h">
        <div class="row report-head">
          <h2 id="report-h" class="grow">${t('reports.tab.' + this.tab)}</h2>
          ${value
            ? html`<button type="button" id="report-csv" ${this.data ? '' : 'disabled'}>${t('reports.csv')}</button>`
            : html`<a class="button" id="report-csv" href="/api/reports/${PATHS[this.tab]}.csv${query(this.params())}" download>${t('reports.csv')}</a>`}
          <button type="button" id="report-png" ${this.hasChart() ? '' : 'disabled'}>${t('reports.png')}</button>
        </div>
        <p class="muted small">${t('reports.about.' + this.tab)}</p>
        ${this.error ? html`<p class="error" role="alert" id="report-error">${this.error}</p>` : ''}
        ${!this.error && !this.data ? html`<p class="muted">${t('common.loading')}</p>` : ''}
        ${this.data ? this.body() : ''}
      </section>`);
    this.wire();
    if (this.hasChart()) this.querySelector('hl-plot').show(this.chart());
  }

  /** Whether the loaded report has anything to draw. */
  hasChart() {
    const d = this.data;
    if (!d || this.error) return false;
    switch (this.tab) {
      case 'volume': return d.contacts > 0;
      case 'service': return d.periods.length > 0;
      case 'agents': return d.agents.length > 0;
      case 'complaints': return d.periods.length > 0;
      case 'csat': return d.answers > 0;
      default: return d.ranked > 0 && d.curve.length > 0;
    }
  }

  body() {
    if (!this.hasChart()) {
      return html`<p class="empty" id="report-empty">${t(this.tab === 'value' ? 'reports.no_ranking' : 'reports.empty')}</p>`;
    }
    return html`<p id="report-summary">${this.summary()}</p><hl-plot id="report-chart"></hl-plot>
      <div class="table-wrap">${this[this.tab + 'Table']()}</div>`;
  }

  summary() {
    const d = this.data;
    switch (this.tab) {
      case 'volume': return t('reports.volume_total', { n: this.num(d.contacts) });
      case 'service': return t('reports.service_total', { sl: this.pct(d.total.service_level), asa: this.secs(d.total.asa_secs), aht: this.secs(d.total.aht_secs) });
      case 'agents': return t('reports.agents_total', { n: this.num(d.agents.length), handled: this.num(d.agents.reduce((a, x) => a + x.handled, 0)) });
      case 'complaints': return t('reports.complaints_total', { received: this.num(d.received), closed: this.num(d.closed), avg: this.secs(d.avg_handle_secs) });
      case 'csat': return t('reports.csat_total', { csat: this.pct(d.csat), n: this.num(d.answers) });
      default: return this.paretoText();
    }
  }

  /** "The top 20% of customers bring 78% of revenue and 35% of contacts", read off the curve. */
  paretoText() {
    const d = this.data;
    const at = d.curve.find((p) => p.rank_pct >= 20) || d.curve[d.curve.length - 1];
    return t('reports.pareto_sentence', {
      top: this.pct(at.rank_pct / 100), revenue: this.pct(at.revenue_pct / 100), contacts: this.pct(at.contacts_pct / 100),
      ranked: this.num(d.ranked), customers: this.num(d.customers),
      from: new Intl.DateTimeFormat(i18n.locale, { dateStyle: 'medium', timeZone: i18n.timeZone }).format(d.from),
      to: new Intl.DateTimeFormat(i18n.locale, { dateStyle: 'medium', timeZone: i18n.timeZone }).format(d.to),
    });
  }

  /** Values of `pick(period)` at every slot of the range (null where the API has none). */
  over(periods, pick) {
    const by = new Map(periods.map((p) => [p.period_ms, p]));
    return this.slots().map((ms) => (by.has(ms) ? pick(by.get(ms)) : null));
  }

  chart() {
    const d = this.data;
    const label = t('reports.chart.' + this.tab);
    const x = () => this.slots().map((ms) => this.periodText(ms, true));
    const labelSteps = LABEL_STEPS[d.interval];
    const percent = (v) => `${Math.round(v)}%`;
    switch (this.tab) {
      case 'volume':
        return {
          label, x: x(), labelSteps, stacked: true,
          series: d.channels.map((c) => ({ name: enumText('channel', c), kind: 'bar', values: this.over(d.periods, (p) => p.by_channel[c] || 0) })),
        };
      case 'service':
        return {
          label, x: x(), labelSteps, left: { unit: '%', max: 100 }, right: { unit: t('reports.unit_secs'), min: 20 },
          series: [
            { name: t('reports.sl'), kind: 'line', values: this.over(d.periods, (p) => (p.service_level == null ? null : p.service_level * 100)), format: percent },
            { name: t('reports.asa_secs'), kind: 'line', axis: 'right', values: this.over(d.periods, (p) => p.asa_secs), format: (v) => `${Math.round(v)}${t('reports.unit_secs')}` },
          ],
        };
      case 'agents':
        return {
          label, x: d.agents.map((a) => a.name),
          series: [{ name: t('reports.handled'), kind: 'bar', values: d.agents.map((a) => a.handled) }],
        };
      case 'complaints':
        return {
          label, x: x(), labelSteps,
          series: [
            { name: t('reports.received'), kind: 'bar', values: this.over(d.periods, (p) => p.received) },
            { name: t('reports.closed'), kind: 'bar', values: this.over(d.periods, (p) => p.closed) },
          ],
        };
      case 'csat':
        return {
          label, x: x(), labelSteps, left: { unit: '%', max: 100 },
          series: [
            { name: t('reports.answers'), kind: 'bar', axis: 'right', values: this.over(d.periods, (p) => p.answers), color: '#b9cdee' },
            { name: t('reports.csat'), kind: 'line', values: this.over(d.periods, (p) => (p.csat == null ? null : p.csat * 100)), format: percent },
          ],
        };
      default: {
        // The curve starts at the origin: no customers, no revenue.
        const curve = d.curve[0].rank_pct > 0 ? [{ rank_pct: 0, revenue_pct: 0, contacts_pct: 0 }, ...d.curve] : d.curve;
        return {
          label, x: { min: 0, max: 100, step: 20, unit: '%', values: curve.map((p) => p.rank_pct) },
          left: { unit: '%', max: 100 }, reference: t('reports.equal_share'),
          series: [
            { name: t('reports.revenue_pct'), kind: 'line', values: curve.map((p) => p.revenue_pct), format: percent },
            { name: t('reports.contacts_pct'), kind: 'line', values: curve.map((p) => p.contacts_pct), format: percent },
          ],
        };
      }
    }
  }

  // ---- tables ----

  volumeTable() {
    const d = this.data;
    return html`<table class="list report-table" id="report-table"><thead><tr><th>${t('reports.period')}</th>
      ${d.channels.map((c) => html`<th class="num">${enumText('channel', c)}</th>`)}<th class="num">${t('reports.contacts')}</th></tr></thead>
      <tbody>${d.periods.map((p) => html`<tr data-period="${p.period}"><td>${this.periodText(p.period_ms)}</td>
        ${d.channels.map((c) => html`<td class="num">${this.num(p.by_channel[c] || 0)}</td>`)}<td class="num">${this.num(p.contacts)}</td></tr>`)}</tbody>
      <tfoot><tr><th>${t('reports.total')}</th>${d.channels.map((c) => html`<td class="num">${this.num(d.periods.reduce((a, p) => a + (p.by_channel[c] || 0), 0))}</td>`)}
        <td class="num">${this.num(d.contacts)}</td></tr></tfoot></table>`;
  }

  serviceTable() {
    const d = this.data;
    const row = (r, name, attr) => html`<tr ${attr}><td>${name}</td><td class="num">${this.num(r.contacts)}</td><td class="num">${this.num(r.answered)}</td>
      <td class="num">${this.num(r.abandoned)}</td><td class="num">${this.pct(r.service_level)}</td><td class="num">${this.secs(r.asa_secs)}</td>
      <td class="num">${this.secs(r.aht_secs)}</td></tr>`;
    return html`<table class="list report-table" id="report-table"><thead><tr><th>${t('reports.queue')}</th><th class="num">${t('reports.contacts')}</th>
      <th class="num">${t('reports.answered')}</th><th class="num">${t('reports.abandoned')}</th><th class="num">${t('reports.sl')}</th>
      <th class="num">${t('reports.asa')}</th><th class="num">${t('reports.aht')}</th></tr></thead>
      <tbody>${d.queues.map((q) => row(q, q.queue || t('reports.no_queue'), html`data-queue="${q.queue_id ?? ''}"`))}</tbody>
      <tfoot>${row(d.total, t('reports.total'), '')}</tfoot></table>`;
  }

  agentsTable() {
    const d = this.data;
    return html`<table class="list report-table" id="report-table"><thead><tr><th>${t('reports.agent')}</th><th class="num">${t('reports.handled')}</th>
      <th class="num">${t('reports.aht')}</th><th class="num">${t('reports.occupancy')}</th><th class="num">${t('reports.available')}</th>
      <th class="num">${t('reports.busy')}</th><th class="num">${t('reports.wrap_up')}</th><th class="num">${t('reports.away')}</th>
      <th class="num">${t('reports.csat')}</th></tr></thead>
      <tbody>${d.agents.map((a) => html`<tr data-agent="${a.user_id}"><td>${a.name}</td><td class="num">${this.num(a.handled)}</td>
        <td class="num">${this.secs(a.aht_secs)}</td><td class="num">${this.pct(a.occupancy)}</td><td class="num">${this.secs(a.available_secs)}</td>
        <td class="num">${this.secs(a.busy_secs)}</td><td class="num">${this.secs(a.wrap_up_secs)}</td><td class="num">${this.secs(a.away_secs)}</td>
        <td class="num">${a.csat_answers ? t('reports.csat_of', { csat: this.pct(a.csat), n: this.num(a.csat_answers) }) : '—'}</td></tr>`)}</tbody></table>`;
  }

  complaintsTable() {
    const d = this.data;
    const sev = (level) => {
      const s = this.lists && this.lists.severities.find((x) => x.level === level);
      return s ? `${level} · ${localName(s)}` : String(level);
    };
    return html`<table class="list report-table" id="report-table"><thead><tr><th>${t('reports.category')}</th><th>${t('reports.severity')}</th>
      <th class="num">${t('reports.received')}</th><th class="num">${t('reports.frequency')}</th><th class="num">${t('reports.closed')}</th>
      <th class="num">${t('reports.avg_handle')}</th></tr></thead>
      <tbody>${d.rows.map((r) => html`<tr data-category="${r.category}" data-severity="${r.severity}"><td>${localName(r) || r.category}</td>
        <td><span class="badge sev-${r.severity}">${sev(r.severity)}</span></td><td class="num">${this.num(r.received)}</td>
        <td class="num">${this.pct(r.frequency)}</td><td class="num">${this.num(r.closed)}</td><td class="num">${this.secs(r.avg_handle_secs)}</td></tr>`)}</tbody>
      <tfoot><tr><th colspan="2">${t('reports.total')}</th><td class="num">${this.num(d.received)}</td><td class="num">${d.received ? this.pct(1) : '—'}</td>
        <td class="num">${this.num(d.closed)}</td><td class="num">${this.secs(d.avg_handle_secs)}</td></tr></tfoot></table>`;
  }

  csatTable() {
    const d = this.data;
    return html`<table class="list report-table" id="report-table"><thead><tr><th>${t('reports.period')}</th><th class="num">${t('reports.answers')}</th>
      <th class="num">${t('reports.good')}</th><th class="num">${t('reports.csat')}</th><th class="num">${t('reports.avg_score')}</th></tr></thead>
      <tbody>${d.periods.map((p) => html`<tr data-period="${p.period}"><td>${this.periodText(p.period_ms)}</td><td class="num">${this.num(p.answers)}</td>
        <td class="num">${this.num(p.good)}</td><td class="num">${this.pct(p.csat)}</td>
        <td class="num">${p.avg_score == null ? '—' : new Intl.NumberFormat(i18n.locale, { maximumFractionDigits: 2 }).format(p.avg_score)}</td></tr>`)}</tbody>
      <tfoot><tr><th>${t('reports.total')}</th><td class="num">${this.num(d.answers)}</td><td></td><td class="num">${this.pct(d.csat)}</td><td></td></tr></tfoot></table>`;
  }

  valueTable() {
    const d = this.data;
    return html`<table class="list report-table" id="report-table"><thead><tr><th>${t('reports.tier')}</th><th class="num">${t('reports.customers')}</th>
      <th class="num">${t('reports.revenue_share')}</th><th class="num">${t('reports.contacts')}</th></tr></thead>
      <tbody>${d.tiers.map((x) => html`<tr data-tier="${x.tier}"><td><span class="badge ${x.tier}">${t('tier.' + x.tier)}</span></td>
        <td class="num">${this.num(x.customers)}</td><td class="num">${this.pct(x.revenue_pct / 100)}</td><td class="num">${this.num(x.contacts)}</td></tr>`)}</tbody>
      <tfoot><tr><th>${t('reports.total')}</th><td class="num">${this.num(d.customers)}</td><td class="num">${this.pct(1)}</td>
        <td class="num">${this.num(d.contacts)}</td></tr></tfoot></table>`;
  }

  /** The value tab's table as CSV (UTF-8 with a byte order mark, as the API's). */
  valueCsv() {
    const d = this.data;
    const lines = ['tier,customers,revenue_pct,contacts', ...d.tiers.map((x) => `${x.tier},${x.customers},${x.revenue_pct},${x.contacts}`)];
    download(new Blob([`\ufeff${lines.join('\r\n')}\r\n`], { type: 'text/csv;charset=utf-8' }), `hotline-value-${dateOf(d.to)}.csv`);
  }

  wire() {
    const form = this.querySelector('#report-filters');
    form.addEventListener('change', () => {
      if (!form.from.value || !form.to.value) return;
      this.f = { from: form.from.value, to: form.to.value, interval: form.interval.value, queue: form.queue.value };
      this.load();
    });
    form.addEventListener('submit', (e) => e.preventDefault());
    for (const b of this.querySelectorAll('#report-tabs [role=tab]')) {
      b.addEventListener('click', () => {
        if (this.tab === b.dataset.tab) return;
        this.tab = b.dataset.tab;
        this.load();
      });
    }
    this.querySelector('#report-png').addEventListener('click', async () => {
      const name = this.tab === 'value'
        ? `hotline-value-${dateOf(this.data.from)}-${dateOf(this.data.to)}.png`
        : `hotline-${this.tab}-${this.f.from}-${this.f.to}.png`;
      try {
        await this.querySelector('hl-plot').toPng(name);
      } catch (e) {
        this.error = errorText(e);
        this.draw();
      }
    });
    if (this.tab === 'value') this.querySelector('#report-csv').addEventListener('click', () => this.data && this.valueCsv());
  }
}

customElements.define('hl-reports', HlReports);
