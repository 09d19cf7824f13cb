// <hl-admin-queues> — queues and how they route: name, description and priority (admins),
// members, routing settings (strategy when the server offers it per queue, offer timeout,
// service-level seconds, capacity per channel), business hours and holidays in the queue's time
// zone (an IANA name, else a fixed UTC offset), and SLA targets per priority and kind with an escalation queue. Admins see and create
// every queue; supervisors set up the queues they work.
// Usage: <hl-admin-queues></hl-admin-queues> (the console shows it at #/admin/queues).

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, t } from '../../lib/i18n.js';
import { session } from '../../lib/session.js';
import { KINDS, PRIORITIES, WORK_CHANNELS, minutesOf, runChange } from '../../lib/admin.js';

const WEEKDAYS = [0, 1, 2, 3, 4, 5, 6];
const STRATEGIES = ['longest_idle', 'round_robin', 'least_loaded'];
/** UTC offsets in half hours, −12:00 … +14:00. */
const OFFSETS = Array.from({ length: 53 }, (_, i) => (i - 24) * 30);

function offsetText(min) {
  const sign = min < 0 ? '−' : '+';
  const a = Math.abs(min);
  return `UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

class HlAdminQueues extends HTMLElement {
  connectedCallback() {
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  async load(selected) {
    try {
      const [queues, users] = await Promise.all([api.get('/api/queues'), api.get('/api/users')]);
      this.users = (Array.isArray(users) ? users : users.items || []).filter((u) => u.active);
      // Supervisors set up the queues they work; admins every queue.
      this.queues = session.admin ? queues : queues.filter((q) => q.members.includes(session.user.id));
      session.queues = queues;
      const want = selected ?? this.selected ?? (this.queues[0] && this.queues[0].id);
      this.selected = this.queues.some((q) => q.id === want) ? want : this.queues[0] && this.queues[0].id;
      if (this.selected) {
        const [hours, sla, survey] = await Promise.all([
          api.get(`/api/queues/${this.selected}/hours`),
          api.get(`/api/queues/${this.selected}/sla`),
          api.get(`/api/queues/${this.selected}/survey`),
        ]);
        this.hours = hours;
        this.sla = sla;
        this.survey = survey;
      }
      this.draw();
    } catch (e) {
      render(this, html`<h1>${t('queues.title')}</h1><p class="error" role="alert">${errorText(e)}</p>`);
    }
  }

  get queue() {
    return this.queues.find((q) => q.id === this.selected);
  }

  queueName(id) {
    const q = session.queues.find((x) => x.id === id);
    return q ? q.name : id ? `#${id}` : '—';
  }

  draw() {
    if (!this.queues) return;
    const q = this.queue;
    render(this, html`
      <div class="admin-head"><h1>${t('queues.title')}</h1></div>
      <div class="admin-split">
        <nav class="admin-pick" aria-label="${t('queues.list')}">
          <ul id="queue-list">${this.queues.map((x) => html`<li><button type="button" data-queue="${x.id}" ${x.id === this.selected ? 'aria-current="true"' : ''}>${x.name}
            ${x.is_default ? html`<span class="badge">${t('queues.default')}</span>` : ''}</button></li>`)}</ul>
          ${this.queues.length ? '' : html`<p class="empty">${session.admin ? t('queues.empty_admin') : t('queues.empty_supervisor')}</p>`}
          ${session.admin ? html`<form id="queue-new" class="stack">
            <label>${t('queues.new_name')}<input name="name" id="queue-new-name" required></label>
            <button type="submit" class="primary">${t('queues.create')}</button></form>` : ''}
        </nav>
        <div class="admin-detail">${q ? this.detail(q) : ''}</div>
      </div>`);
    this.wire();
  }

  detail(q) {
    const h = this.hours || { hours: [], holidays: [], utc_offset_minutes: 0 };
    const zoneByName = 'time_zone' in h;
    const cap = q.capacity || {};
    return html`
      <h2 id="queue-title">${q.name}</h2>
      ${session.admin ? html`<form class="panel admin-panel" id="q-general" aria-labelledby="qg-h">
        <h3 id="qg-h">${t('queues.general')}</h3>
        <div class="form-grid">
          <label>${t('queues.name')}<input name="name" id="q-name" required value="${q.name}"></label>
          <label>${t('queues.priority')}<input name="priority" id="q-priority" type="number" min="-100" max="100" value="${q.priority}"></label>
        </div>
        <label>${t('queues.description')}<textarea name="description" id="q-description" rows="2">${q.description}</textarea></label>
        <button type="submit" class="primary">${t('common.save')}</button>
      </form>` : ''}
      <form class="panel admin-panel" id="q-members" aria-labelledby="qm-h">
        <h3 id="qm-h">${t('queues.members')}</h3>
        ${this.users.length ? html`<div class="checks">${this.users.map((u) => html`<label class="check"><input type="checkbox" name="member" value="${u.id}" ${q.members.includes(u.id) ? 'checked' : ''}>${u.display_name} <span class="muted small">${t('role.' + u.role)}</span></label>`)}</div>`
          : html`<p class="empty">${t('queues.no_users')}</p>`}
        <button type="submit" class="primary">${t('queues.save_members')}</button>
      </form>
      <form class="panel admin-panel" id="q-routing" aria-labelledby="qr-h">
        <h3 id="qr-h">${t('queues.routing')}</h3>
        <div class="form-grid">
          ${'strategy' in q ? html`<label>${t('queues.strategy')}<select name="strategy" id="q-strategy">
            <option value="">${t('queues.server_default')}</option>
            ${STRATEGIES.map((s) => html`<option value="${s}" ${q.strategy === s ? 'selected' : ''}>${t('queues.strategy.' + s)}</option>`)}</select></label>` : ''}
          <label>${t('queues.offer_timeout')}<input name="offer_timeout_secs" id="q-offer-timeout" type="number" min="1" max="600" value="${q.offer_timeout_secs ?? ''}" placeholder="${t('queues.server_default')}"></label>
          <label>${t('queues.service_level')}<input name="service_level_secs" id="q-service-level" type="number" min="1" max="86400" value="${q.service_level_secs ?? ''}" placeholder="20"></label>
        </div>
        <fieldset><legend>${t('queues.capacity')}</legend>
          <p class="muted small">${t('queues.capacity_hint')}</p>
          <div class="form-grid">${WORK_CHANNELS.map((ch) => html`<label>${enumText('channel', ch)}<input type="number" min="0" max="100" name="cap_${ch}" id="q-cap-${ch}" value="${cap[ch] ?? ''}"></label>`)}</div>
        </fieldset>
        <button type="submit" class="primary">${t('common.save')}</button>
      </form>
      ${this.survey ? html`<form class="panel admin-panel" id="q-survey" aria-labelledby="qs-h">
        <h3 id="qs-h">${t('queues.survey')}</h3>
        <p class="muted small">${t('queues.survey_hint')}</p>
        <div class="form-grid">
          <label class="check"><input type="checkbox" name="enabled" id="q-survey-enabled" ${this.survey.enabled ? 'checked' : ''}>${t('queues.survey_enabled')}</label>
          <label>${t('queues.survey_delay')}<input name="delay_minutes" id="q-survey-delay" type="number" min="0" max="10080" value="${this.survey.delay_minutes}"></label>
          <label class="check"><input type="checkbox" name="keypad" id="q-survey-keypad" ${this.survey.keypad ? 'checked' : ''}>${t('queues.survey_keypad')}</label>
        </div>
        <button type="submit" class="primary">${t('common.save')}</button>
      </form>` : ''}
      <form class="panel admin-panel" id="q-hours" aria-labelledby="qh-h">
        <h3 id="qh-h">${t('queues.hours')}</h3>
        <p class="muted small">${t('queues.hours_hint')}</p>
        <div class="form-grid">
          ${zoneByName ? html`<label>${t('queues.time_zone')}<input name="time_zone" id="q-zone" list="q-zones" value="${h.time_zone || ''}" placeholder="Asia/Shanghai"></label>
            <datalist id="q-zones">${(Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []).map((z) => html`<option value="${z}">`)}</datalist>` : ''}
          <label>${zoneByName ? t('queues.utc_offset') : t('queues.time_zone')}<select name="utc_offset_minutes" id="q-offset">${OFFSETS.map((o) => html`<option value="${o}" ${o === h.utc_offset_minutes ? 'selected' : ''}>${offsetText(o)}</option>`)}</select></label>
        </div>
        <table class="list compact" id="q-windows"><thead><tr><th>${t('queues.weekday')}</th><th>${t('queues.open')}</th><th>${t('queues.close')}</th><th></th></tr></thead>
          <tbody>${h.hours.map((w, i) => this.windowRow(w, i))}</tbody></table>
        ${h.hours.length ? '' : html`<p class="muted small" id="q-no-hours">${t('queues.no_hours')}</p>`}
        <div class="row">
          <button type="button" id="q-add-window">${t('queues.add_window')}</button>
          <button type="button" id="q-weekdays">${t('queues.fill_weekdays')}</button>
        </div>
        <fieldset><legend>${t('queues.holidays')}</legend>
          <ul class="chips" id="q-holidays">${h.holidays.map((d) => html`<li data-day="${d}">${d} <button type="button" class="small" data-remove-day="${d}" aria-label="${t('queues.remove_holiday', { day: d })}">×</button></li>`)}</ul>
          <div class="row"><label>${t('queues.holiday')}<input type="date" id="q-holiday"></label><button type="button" id="q-add-holiday">${t('queues.add_holiday')}</button></div>
        </fieldset>
        <button type="submit" class="primary" id="q-hours-save">${t('queues.save_hours')}</button>
      </form>
      <section class="panel admin-panel" aria-labelledby="qs-h">
        <h3 id="qs-h">${t('queues.sla')}</h3>
        ${this.sla.length ? html`<table class="list compact" id="q-sla-list"><thead><tr><th>${t('queues.kind')}</th><th>${t('queues.priority_level')}</th>
            <th>${t('queues.first_response')}</th><th>${t('queues.resolution')}</th><th>${t('queues.warn')}</th><th>${t('queues.escalate')}</th></tr></thead>
          <tbody>${this.sla.map((s) => html`<tr data-sla="${s.kind}-${s.priority}"><td>${t('queues.sla_kind.' + s.kind)}</td><td>${enumText('priority', PRIORITIES[s.priority])}</td>
            <td class="num">${t('queues.minutes', { n: minutesOf(s.first_response_secs) })}</td><td class="num">${t('queues.minutes', { n: minutesOf(s.resolution_secs) })}</td>
            <td class="num">${s.warn_percent}%</td><td>${this.queueName(s.escalate_queue_id)}</td></tr>`)}</tbody></table>`
          : html`<p class="empty" id="q-no-sla">${t('queues.no_sla')}</p>`}
        <form id="q-sla" class="form-grid">
          <label>${t('queues.kind')}<select name="kind" id="sla-kind">${['ticket', 'callback', 'complaint'].map((k) => html`<option value="${k}">${t('queues.sla_kind.' + k)}</option>`)}</select></label>
          <label>${t('queues.priority_level')}<select name="priority" id="sla-priority">${PRIORITIES.map((p, i) => html`<option value="${i}" ${i === 1 ? 'selected' : ''}>${enumText('priority', p)}</option>`)}</select></label>
          <label>${t('queues.first_response_min')}<input name="first" id="sla-first" type="number" min="1" required></label>
          <label>${t('queues.resolution_min')}<input name="resolution" id="sla-resolution" type="number" min="1" required></label>
          <label>${t('queues.warn_percent')}<input name="warn" id="sla-warn" type="number" min="1" max="100" value="80"></label>
          <label>${t('queues.escalate')}<select name="escalate" id="sla-escalate"><option value="">—</option>${session.queues.filter((x) => x.id !== q.id).map((x) => html`<option value="${x.id}">${x.name}</option>`)}</select></label>
          <div class="row"><button type="submit" class="primary" id="sla-save">${t('queues.set_sla')}</button></div>
        </form>
        <p class="muted small">${t('queues.sla_hint', { kinds: KINDS.filter((k) => k !== 'callback').map((k) => enumText('kind', k)).join(', ') })}</p>
      </section>`;
  }

  windowRow(w, i) {
    return html`<tr class="window">
      <td><label class="sr-only" for="w-day-${i}">${t('queues.weekday')}</label><select id="w-day-${i}" name="weekday">${WEEKDAYS.map((d) => html`<option value="${d}" ${d === w.weekday ? 'selected' : ''}>${t('queues.day.' + d)}</option>`)}</select></td>
      <td><label class="sr-only" for="w-open-${i}">${t('queues.open')}</label><input id="w-open-${i}" name="open" type="time" value="${w.open}" required></td>
      <td><label class="sr-only" for="w-close-${i}">${t('queues.close')}</label><input id="w-close-${i}" name="close" type="time" value="${w.close}" required></td>
      <td><button type="button" class="small danger" data-remove-window>${t('queues.remove')}</button></td></tr>`;
  }

  /** The hours form as the API takes it. */
  readHours() {
    const form = this.querySelector('#q-hours');
    const hours = [...form.querySelectorAll('tr.window')].map((tr) => ({
      weekday: Number(tr.querySelector('[name=weekday]').value),
      open: tr.querySelector('[name=open]').value.slice(0, 5),
      close: tr.querySelector('[name=close]').value.slice(0, 5),
    }));
    const holidays = [...form.querySelectorAll('#q-holidays li')].map((li) => li.dataset.day);
    // A zone name (summer time included) wins; without one the fixed offset counts.
    const body = { hours, holidays, utc_offset_minutes: Number(form.utc_offset_minutes.value) };
    if (form.time_zone && form.time_zone.value.trim()) body.time_zone = form.time_zone.value.trim();
    return body;
  }

  wire() {
    for (const b of this.querySelectorAll('[data-queue]')) b.onclick = () => this.load(Number(b.dataset.queue));
    const create = this.querySelector('#queue-new');
    if (create) {
      create.addEventListener('submit', (e) => {
        e.preventDefault();
        const name = e.target.name.value;
        runChange(() => api.post('/api/queues', { name }), (q) => this.load(q.id), t('queues.created', { name }));
      });
    }
    const q = this.queue;
    if (!q) return;
    const general = this.querySelector('#q-general');
    if (general) {
      general.addEventListener('submit', (e) => {
        e.preventDefault();
        const f = e.target;
        runChange(() => api.patch(`/api/queues/${q.id}`, { name: f.name.value, description: f.description.value, priority: Number(f.priority.value || 0) }), () => this.load());
      });
    }
    this.querySelector('#q-members').addEventListener('submit', (e) => {
      e.preventDefault();
      const ids = [...e.target.querySelectorAll('input[name=member]:checked')].map((i) => Number(i.value));
      runChange(() => api.put(`/api/queues/${q.id}/members`, { user_ids: ids }), () => this.load());
    });
    this.querySelector('#q-routing').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      const body = {};
      if (f.strategy) body.strategy = f.strategy.value; // '' = the server's default
      if (f.offer_timeout_secs.value) body.offer_timeout_secs = Number(f.offer_timeout_secs.value);
      if (f.service_level_secs.value) body.service_level_secs = Number(f.service_level_secs.value);
      const capacity = {};
      for (const ch of WORK_CHANNELS) if (f[`cap_${ch}`].value !== '') capacity[ch] = Number(f[`cap_${ch}`].value);
      if (Object.keys(capacity).length) body.capacity = capacity;
      runChange(() => api.patch(`/api/queues/${q.id}/routing`, body), (r) => {
        // The queue list may not carry these: keep what the server answered.
        Object.assign(q, r || {});
      });
    });
    this.querySelector('#q-survey')?.addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      const body = { enabled: f.enabled.checked, delay_minutes: Number(f.delay_minutes.value || 0), keypad: f.keypad.checked };
      runChange(() => api.put(`/api/queues/${q.id}/survey`, body), (r) => {
        this.survey = r || this.survey;
      });
    });
    const hours = this.querySelector('#q-hours');
    const tbody = hours.querySelector('#q-windows tbody');
    const addWindow = (w) => {
      const tmp = document.createElement('tbody');
      this.seq = (this.seq || 1000) + 1;
      render(tmp, this.windowRow(w, this.seq));
      tbody.append(tmp.firstElementChild);
      const none = this.querySelector('#q-no-hours');
      if (none) none.remove();
      return tbody.lastElementChild;
    };
    hours.querySelector('#q-add-window').onclick = () => addWindow({ weekday: 0, open: '09:00', close: '18:00' }).querySelector('select').focus();
    hours.querySelector('#q-weekdays').onclick = () => {
      tbody.replaceChildren();
      for (const d of [0, 1, 2, 3, 4]) addWindow({ weekday: d, open: '09:00', close: '18:00' });
    };
    tbody.addEventListener('click', (e) => {
      const b = e.target.closest('[data-remove-window]');
      if (b) b.closest('tr').remove();
    });
    const days = hours.querySelector('#q-holidays');
    days.addEventListener('click', (e) => {
      const b = e.target.closest('[data-remove-day]');
      if (b) b.closest('li').remove();
    });
    hours.querySelector('#q-add-holiday').onclick = () => {
      const d = hours.querySelector('#q-holiday').value;
      if (!d || days.querySelector(`li[data-day="${d}"]`)) return;
      const li = document.createElement('li');
      li.dataset.day = d;
      render(li, html`${d} <button type="button" class="small" data-remove-day="${d}" aria-label="${t('queues.remove_holiday', { day: d })}">×</button>`);
      days.append(li);
    };
    hours.addEventListener('submit', (e) => {
      e.preventDefault();
      runChange(() => api.put(`/api/queues/${q.id}/hours`, this.readHours()), () => this.load());
    });
    this.querySelector('#q-sla').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      const body = {
        kind: f.kind.value,
        priority: Number(f.priority.value),
        first_response_secs: Number(f.first.value) * 60,
        resolution_secs: Number(f.resolution.value) * 60,
        warn_percent: Number(f.warn.value || 80),
        escalate_queue_id: f.escalate.value ? Number(f.escalate.value) : null,
      };
      runChange(() => api.put(`/api/queues/${q.id}/sla`, body), () => this.load());
    });
  }
}

customElements.define('hl-admin-queues', HlAdminQueues);
