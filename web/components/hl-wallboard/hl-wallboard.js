// <hl-wallboard> — the supervisor's live board for all channels: per queue waiting now,
// longest wait, service level, ASA, AHT, abandoned; agents by state with time in state; SLA
// warnings and breaches; charts of the day (arrivals and service level per 15 minutes);
// reassign a ticket and hand over all of an agent's work. Fed by /ws `queue_stats` frames and
// GET /api/wallboard; without them it counts waiting tickets from the tickets API every 5 s.
// Large mode for a wall TV (fits one 1920×1080 screen): the button, the `L` key or `?large=1`.
// "Today" and every time shown are in the center's time zone (the frames' `time_zone` and
// `day_start_ms`). The agents list shows every agent, offline ones too.
// Usage: <hl-wallboard></hl-wallboard> in wallboard.html.

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, fmtDateTime, fmtDuration, fmtTime, i18n, setTimeZone, startOfDay, t, LOCALES } from '../../lib/i18n.js';
import { icon } from '../../lib/icons.js';
import { notify, session } from '../../lib/session.js';
import '../hl-chart/hl-chart.js';

const BUCKET_MS = 15 * 60 * 1000;
const STATE_ORDER = ['available', 'busy', 'wrap_up', 'away', 'offline', 'unknown'];

class HlWallboard extends HTMLElement {
  async connectedCallback() {
    await i18n.load(i18n.preferred());
    this.stats = null;
    this.alerts = [];
    this.arrivals = new Map();
    if (new URLSearchParams(location.search).get('large') === '1') document.documentElement.classList.add('large');
    try {
      await session.load();
      if (session.user.locale && session.user.locale !== i18n.locale) await i18n.load(session.user.locale);
      this.startDay(startOfDay());
    } catch {
      render(this, html`<div class="panel signin"><h1>${t('wall.title')}</h1><p>${t('wall.sign_in_first')}</p>
        <a class="button primary" href="/">${t('signin.submit')}</a></div>`);
      return;
    }
    if (!session.supervisor) {
      render(this, html`<div class="panel signin"><h1>${t('wall.title')}</h1><p class="error">${t('wall.supervisors_only')}</p></div>`);
      return;
    }
    this.layout();
    window.addEventListener('hl-locale', () => this.layout());
    document.addEventListener('keydown', (e) => {
      if (e.key === 'L' && !e.target.closest('input, select, textarea')) this.toggleLarge();
    });
    const live = session.live;
    live.addEventListener('queue_stats', (e) => this.showStats(e.detail, true));
    live.addEventListener('event', (e) => this.onEvent(e.detail));
    live.addEventListener('status', (e) => this.showLive(e.detail));
    live.start();
    await this.loadArrivals();
    await this.poll();
    this.timer = setInterval(() => this.poll(), 5000);
    this.ticker = setInterval(() => this.drawAgents(), 1000);
  }

  toggleLarge() {
    document.documentElement.classList.toggle('large');
  }

  /** "Today" starts at `ms` (midnight in the center's zone); a new day starts fresh counts. */
  startDay(ms) {
    if (this.dayStart === ms) return;
    const first = this.dayStart === undefined;
    this.dayStart = ms;
    this.slKey = `hotline.sl.${ms}`;
    this.slSamples = JSON.parse(localStorage.getItem(this.slKey) || '{}');
    if (!first) {
      this.arrivals = new Map();
      this.loadArrivals().then(() => this.drawCharts());
    }
  }

  bucketLabel(i) {
    return fmtTime(this.dayStart + i * BUCKET_MS);
  }

  layout() {
    render(this, html`
      <header class="wall-head">
        <h1>${t('wall.title')}</h1>
        <span class="live-status" id="live-status" title="${t('live.' + session.live.status)}">
          <span class="live-dot ${session.live.status}" id="live-dot" aria-hidden="true"></span>
          <span id="live-label">${t('live.label.' + session.live.status)}</span></span>
        <span class="muted" id="updated"></span>
        <span class="grow"></span>
        <label class="sr-only" for="wall-locale">${t('nav.language')}</label>
        <select id="wall-locale">${LOCALES.map((l) => html`<option value="${l}" ${l === i18n.locale ? 'selected' : ''}>${t('locale.' + l)}</option>`)}</select>
        <button type="button" id="large">${t('wall.large')}</button>
        <a class="button" href="/">${t('wall.console')}</a>
      </header>
      <section aria-labelledby="q-h" class="wall-tiles"><h2 id="q-h" class="sr-only">${t('wall.queues')}</h2><div class="tiles" id="queues"></div></section>
      <div class="wall-main">
        <section class="panel wall-agents" aria-labelledby="a-h"><h2 id="a-h">${t('wall.agents')}</h2><div id="agents"></div></section>
        <section class="panel wall-alerts" aria-labelledby="s-h"><h2 id="s-h">${t('wall.sla')}</h2><ul class="timeline" id="alerts"></ul></section>
        <section class="panel wall-chart"><hl-chart id="chart-arrivals"></hl-chart></section>
        <section class="panel wall-chart"><hl-chart id="chart-sl"></hl-chart></section>
      </div>
      <div class="wall-cols actions">
        <form class="panel" id="reassign" aria-labelledby="r-h">
          <h2 id="r-h">${t('wall.reassign')}</h2>
          <div class="row">
            <label>${t('wall.ticket_no')}<input name="ticket" inputmode="numeric" required size="8"></label>
            <label>${t('wall.to_agent')}<select name="to" required>${this.agentOptions()}</select></label>
            <button class="primary" type="submit">${t('wall.reassign_go')}</button>
          </div>
        </form>
        <form class="panel" id="handover" aria-labelledby="h-h">
          <h2 id="h-h">${t('wall.handover')}</h2>
          <p class="muted small">${t('wall.handover_help')}</p>
          <div class="row">
            <label>${t('wall.from_agent')}<select name="from" required>${this.agentOptions()}</select></label>
            <label>${t('wall.to_agent')}<select name="to" required>${this.agentOptions()}</select></label>
            <button class="danger" type="submit">${t('wall.handover_go')}</button>
          </div>
        </form>
      </div>`);
    this.querySelector('#large').addEventListener('click', () => this.toggleLarge());
    this.querySelector('#wall-locale').addEventListener('change', async (e) => {
      const locale = e.target.value;
      // Kept on the user, as the console does, so the next page opens in it too.
      await api.patch(`/api/users/${session.user.id}`, { locale }).catch(() => {});
      session.user.locale = locale;
      await i18n.load(locale);
    });
    this.querySelector('#reassign').addEventListener('submit', (e) => this.reassign(e));
    this.querySelector('#handover').addEventListener('submit', (e) => this.handover(e));
    if (this.stats) this.showStats(this.stats, this.liveStats);
    this.drawAlerts();
    this.drawCharts();
  }

  /** The agents to pick from, after an empty "choose…" (forms start empty, never "A → A"). */
  agentOptions() {
    return html`<option value="" selected>${t('wall.choose')}</option>${session.users.filter((u) => u.active !== false)
      .map((u) => html`<option value="${u.id}">${u.display_name || u.login}</option>`)}`;
  }

  showLive(status) {
    const dot = this.querySelector('#live-dot');
    if (dot) {
      dot.className = `live-dot ${status}`;
      this.querySelector('#live-label').textContent = t('live.label.' + status);
      this.querySelector('#live-status').title = t('live.' + status);
    }
  }

  async poll() {
    if (this.liveStats && Date.now() - this.stats.at_ms < 5000) return;
    try {
      const snap = await api.optional('/api/wallboard');
      if (snap) {
        this.showStats(snap, false);
        return;
      }
    } catch {
      /* fall through to the estimate */
    }
    await this.estimate();
  }

  /** Without the routing figures: waiting = open unassigned tickets per queue. */
  async estimate() {
    try {
      const open = await api.get('/api/tickets?open=true&limit=200');
      const queues = session.queues.map((q) => {
        const waiting = open.filter((x) => x.queue_id === q.id && x.assignee_id == null);
        const oldest = Math.min(...waiting.map((x) => x.created_at), Date.now());
        return { queue_id: q.id, name: q.name, waiting: waiting.length, longest_wait_secs: Math.round((Date.now() - oldest) / 1000) };
      });
      const agents = session.users.map((u) => ({ user_id: u.id, name: u.display_name, state: 'unknown', time_in_state_secs: null }));
      this.showStats({ at_ms: Date.now(), queues, overall: null, agents, estimated: true }, false);
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  showStats(s, live) {
    this.stats = { ...s, received: Date.now() };
    this.liveStats = live;
    if (s.time_zone) setTimeZone(s.time_zone);
    this.startDay(s.day_start_ms ?? startOfDay(s.at_ms));
    if (s.overall && s.overall.service_level != null) {
      const b = Math.floor((s.at_ms - this.dayStart) / BUCKET_MS);
      this.slSamples[b] = Math.round(s.overall.service_level * 100);
      localStorage.setItem(this.slKey, JSON.stringify(this.slSamples));
    }
    const out = this.querySelector('#queues');
    if (!out) return;
    const pct = (v) => (v == null ? '—' : `${Math.round(v * 100)}%`);
    const secs = (v) => (v == null ? '—' : fmtDuration(v));
    const tiles = (s.overall ? [{ ...s.overall, name: t('wall.all_queues'), overall: true }] : []).concat(s.queues || []);
    render(out, tiles.map((q) => html`
      <article class="tile ${q.overall ? 'overall' : ''} ${q.longest_wait_secs > (q.service_level_secs || 60) && q.waiting ? 'late' : ''}" data-queue="${q.queue_id ?? 'all'}">
        <h3>${q.name}</h3>
        <div class="big"><span class="num" data-waiting="${q.queue_id ?? 'all'}">${q.waiting}</span><span class="label">${t('wall.waiting')}</span></div>
        <dl>
          <div><dt>${t('wall.longest')}</dt><dd>${q.waiting ? fmtDuration(q.longest_wait_secs) : '—'}</dd></div>
          <div><dt>${t('wall.sl')}</dt><dd class="${q.service_level != null && q.service_level < 0.8 ? 'bad' : ''}">${pct(q.service_level)}</dd></div>
          <div><dt>${t('wall.asa')}</dt><dd>${secs(q.asa_secs)}</dd></div>
          <div><dt>${t('wall.aht')}</dt><dd>${secs(q.aht_secs)}</dd></div>
          <div><dt>${t('wall.abandoned')}</dt><dd>${q.abandoned ?? '—'}</dd></div>
          <div><dt>${t('wall.answered')}</dt><dd>${q.answered ?? '—'}</dd></div>
          <div><dt>${t('wall.csat')}</dt><dd class="${q.csat != null && q.csat < 0.8 ? 'bad' : ''}" data-csat="${q.queue_id ?? 'all'}" title="${t('wall.csat_help', { n: q.csat_answers ?? 0 })}">${pct(q.csat)}</dd></div>
        </dl>
      </article>`));
    this.querySelector('#updated').textContent = `${s.estimated ? t('wall.estimated') + ' · ' : ''}${t('wall.updated')} ${fmtDateTime(s.at_ms)}`;
    this.drawAgents();
    this.drawCharts();
  }

  drawAgents() {
    const out = this.querySelector('#agents');
    if (!out || !this.stats) return;
    const drift = Math.round((Date.now() - this.stats.received) / 1000);
    // Every agent, also those who never set a presence (offline).
    const listed = new Set((this.stats.agents || []).map((a) => a.user_id));
    const missing = session.users
      .filter((u) => u.active !== false && (u.role === 'agent' || u.role === 'supervisor') && !listed.has(u.id))
      .map((u) => ({ user_id: u.id, name: u.display_name || u.login, state: 'offline', time_in_state_secs: null }));
    const agents = [...(this.stats.agents || []), ...missing]
      .sort((a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || String(a.name).localeCompare(String(b.name)));
    const counts = {};
    for (const a of agents) counts[a.state] = (counts[a.state] || 0) + 1;
    render(out, html`
      <p class="row">${Object.entries(counts).map(([s, n]) => html`<span class="badge ${s}">${enumText('presence', s)}: ${n}</span>`)}</p>
      <table class="list" id="agent-list"><thead><tr><th>${t('wall.agent')}</th><th>${t('wall.state')}</th><th>${t('wall.in_state')}</th></tr></thead>
      <tbody>${agents.length ? '' : html`<tr><td colspan="3" class="muted">${t('wall.no_agents')}</td></tr>`}${agents.map((a) => html`<tr data-agent="${a.user_id}"><td class="name nowrap">${a.name}</td>
        <td class="nowrap"><span class="badge ${a.state}">${enumText('presence', a.state)}</span>${a.reason ? html` <span class="muted small">${enumText('presence.reason', a.reason)}</span>` : ''}</td>
        <td class="num">${a.time_in_state_secs == null ? '—' : fmtDuration(a.time_in_state_secs + drift)}</td></tr>`)}</tbody></table>`);
  }

  onEvent(ev) {
    if (ev.kind === 'sla.warning' || ev.kind === 'sla.breach') {
      this.alerts.unshift(ev);
      this.alerts = this.alerts.slice(0, 30);
      this.drawAlerts();
    }
    if (ev.kind === 'ticket.created' && this.dayStart !== undefined) {
      const b = Math.floor((ev.at_ms - this.dayStart) / BUCKET_MS);
      this.arrivals.set(b, (this.arrivals.get(b) || 0) + 1);
      this.drawCharts();
    }
    // A survey answer: a low score is a warning to act on; the CSAT figures follow.
    if (ev.kind === 'survey.answered' && ev.payload.survey && ev.payload.survey.score <= 2) {
      this.alerts.unshift(ev);
      this.alerts = this.alerts.slice(0, 30);
      this.drawAlerts();
    }
    if (!this.liveStats && (ev.kind.startsWith('ticket.') || ev.kind.startsWith('offer.') || ev.kind === 'survey.answered')) {
      clearTimeout(this.soon);
      this.soon = setTimeout(() => this.poll(), 300);
    }
  }

  drawAlerts() {
    const out = this.querySelector('#alerts');
    if (!out) return;
    render(out, this.alerts.length ? this.alerts.map((a) => a.kind === 'survey.answered' ? html`<li class="warning survey-low">
      <span class="ch">${icon('warning')}</span>
      <div><strong>${t('wall.survey_low', { score: a.payload.survey.score })}</strong>
        · <a href="/#/ticket/${a.payload.ticket_id}">#${a.payload.ticket_id}</a>
        ${a.payload.survey.follow_up_ticket_id ? html` · ${t('wall.follow_up')} <a href="/#/ticket/${a.payload.survey.follow_up_ticket_id}">#${a.payload.survey.follow_up_ticket_id}</a>` : ''}</div>
      <span class="small muted">${fmtDateTime(a.at_ms)}</span></li>` : html`<li class="${a.kind === 'sla.breach' ? 'breach' : 'warning'}">
      <span class="ch">${icon(a.kind === 'sla.breach' ? 'breach' : 'warning')}</span>
      <div><strong>${t(a.kind === 'sla.breach' ? 'wall.breach' : 'wall.warning')}</strong>
        · <a href="/#/ticket/${a.payload.ticket_id ?? a.ticket_id}">#${a.payload.ticket_id ?? a.ticket_id}</a>
        · ${t('sla.' + (a.payload.target || 'first_response'))}
        ${a.payload.due_ms ? html` · ${t('wall.due')} ${fmtDateTime(a.payload.due_ms)}` : ''}</div>
      <span class="small muted">${fmtDateTime(a.at_ms)}</span></li>`) : html`<li class="muted">${t('wall.no_alerts')}</li>`);
  }

  /** Tickets created today, per 15 minutes (paging back through the tickets API). */
  async loadArrivals() {
    const start = this.dayStart;
    const counted = new Map();
    let before;
    try {
      for (let page = 0; page < 10; page++) {
        const list = await api.get('/api/tickets' + query({ limit: 200, before_id: before }));
        for (const x of list) {
          if (x.created_at >= start) {
            const b = Math.floor((x.created_at - start) / BUCKET_MS);
            counted.set(b, (counted.get(b) || 0) + 1);
          }
        }
        if (list.length < 200 || list[list.length - 1].created_at < start) break;
        before = list[list.length - 1].id;
      }
      // Only if the day did not change meanwhile (a later load has the newer day).
      if (start === this.dayStart) this.arrivals = counted;
    } catch {
      /* the chart fills from live events */
    }
  }

  drawCharts() {
    const a = this.querySelector('#chart-arrivals');
    if (!a) return;
    const now = Math.floor((Date.now() - this.dayStart) / BUCKET_MS);
    const first = Math.max(0, Math.min(now - 31, Math.min(...this.arrivals.keys(), now)));
    const range = [];
    for (let i = first; i <= now; i++) range.push(i);
    a.show({ label: t('wall.chart_arrivals'), buckets: range.map((i) => ({ label: this.bucketLabel(i), value: this.arrivals.get(i) || 0 })) });
    this.querySelector('#chart-sl').show({
      label: t('wall.chart_sl'),
      buckets: range.map((i) => ({ label: this.bucketLabel(i), value: this.slSamples[i] ?? null })),
      max: 100,
      target: 80,
      unit: '%',
    });
  }

  async reassign(e) {
    e.preventDefault();
    const f = e.target;
    const ticket = Number(f.ticket.value.replace('#', ''));
    if (!f.to.value) return;
    const to = Number(f.to.value);
    try {
      try {
        await api.post(`/api/work/${ticket}/assign`, { user_id: to });
      } catch (x) {
        if (!x.missing) throw x;
        await api.patch(`/api/tickets/${ticket}`, { assignee_id: to });
      }
      notify(t('wall.reassigned', { n: ticket, who: session.userName(to) }));
      f.ticket.value = '';
    } catch (x) {
      notify(errorText(x), 'error');
    }
  }

  async handover(e) {
    e.preventDefault();
    const f = e.target;
    if (!f.from.value || !f.to.value) return;
    const from = Number(f.from.value);
    const to = Number(f.to.value);
    if (!confirm(t('wall.handover_confirm', { from: session.userName(from), to: session.userName(to) }))) return;
    try {
      const r = await api.post(`/api/users/${from}/handover`, { to });
      notify(t('wall.handed_over', { tickets: r.tickets.length, customers: r.customers }));
    } catch (x) {
      notify(errorText(x), 'error');
    }
  }
}

customElements.define('hl-wallboard', HlWallboard);
