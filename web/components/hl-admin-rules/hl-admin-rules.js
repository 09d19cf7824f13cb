// <hl-admin-rules> — placement rules in the order routing tries them (the first rule whose
// conditions all hold places the work): every condition the engine knows (channel, the number or
// address it came to, keyword, customer tier, language, ticket kind), priority boost and required
// skills; add, edit, delete, move up and down; and "test a sample contact": which queue it would
// go to and why (POST /api/routing/test, the same matching the real placement runs).
// Usage: <hl-admin-rules></hl-admin-rules> (the console shows it at #/admin/rules).

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, t } from '../../lib/i18n.js';
import { notify, session } from '../../lib/session.js';
import { KINDS, TIERS, WORK_CHANNELS, openDialog, runChange, splitList } from '../../lib/admin.js';

const CONDITIONS = ['channel', 'to_addr', 'keyword', 'tier', 'language', 'kind'];

class HlAdminRules extends HTMLElement {
  connectedCallback() {
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  async load() {
    try {
      this.queues = await api.get('/api/queues');
      session.queues = this.queues;
      // One list in evaluation order: the server's when it offers one, else every queue's rules
      // ordered as routing orders them (position, then id).
      let rules = await api.optional('/api/routing/rules');
      if (!Array.isArray(rules)) {
        const per = await Promise.all(this.queues.map((q) => api.get(`/api/queues/${q.id}/rules`)));
        rules = per.flat().sort((a, b) => a.position - b.position || a.id - b.id);
      }
      this.rules = rules;
      this.draw();
    } catch (e) {
      render(this, html`<h1>${t('rules.title')}</h1><p class="error" role="alert">${errorText(e)}</p>`);
    }
  }

  /** Admins place rules in any queue; supervisors in the queues they work. */
  editableQueues() {
    return session.admin ? this.queues : this.queues.filter((q) => q.members.includes(session.user.id));
  }

  /** Whether this user may change rule `r` (the server checks it too). */
  mayEdit(r) {
    return this.editableQueues().some((q) => q.id === r.queue_id);
  }

  queueName(id) {
    const q = this.queues.find((x) => x.id === id);
    return q ? q.name : `#${id}`;
  }

  /** "Channel: SMS · Keyword: refund" — the conditions a rule sets. */
  conditions(r) {
    const parts = CONDITIONS.filter((c) => r[c]).map((c) => {
      let v = r[c];
      if (c === 'channel') v = enumText('channel', v);
      if (c === 'tier') v = enumText('tier', v);
      if (c === 'kind') v = enumText('kind', v);
      return html`<span class="cond"><span class="muted">${t('rules.cond.' + c)}:</span> ${v}</span>`;
    });
    return parts.length ? parts : html`<span class="muted">${t('rules.matches_all')}</span>`;
  }

  draw() {
    if (!this.rules) return;
    const select = (name, id, values, group) => html`<select name="${name}" id="${id}"><option value="">${t('rules.any')}</option>
      ${values.map((v) => html`<option value="${v}">${enumText(group, v)}</option>`)}</select>`;
    render(this, html`
      <div class="admin-head">
        <h1>${t('rules.title')}</h1>
        <button type="button" class="primary" id="rule-new">${t('rules.new')}</button>
      </div>
      <p class="muted small">${t('rules.hint')}</p>
      ${this.rules.length ? html`<table class="list" id="rule-list"><thead><tr><th>${t('rules.order')}</th><th>${t('rules.queue')}</th>
          <th>${t('rules.conditions')}</th><th>${t('rules.boost')}</th><th>${t('rules.skills')}</th><th></th></tr></thead>
        <tbody>${this.rules.map((r, i) => html`<tr data-rule-id="${r.id}">
          <td class="num">${i + 1}</td><td class="nowrap">${this.queueName(r.queue_id)}</td><td class="conds">${this.conditions(r)}${r.set_kind ? html` <span class="badge ${r.set_kind}" data-set-kind="${r.set_kind}">→ ${enumText('kind', r.set_kind)}</span>` : ''}</td>
          <td class="num">${r.priority_boost ? (r.priority_boost > 0 ? '+' : '') + r.priority_boost : ''}</td><td class="small">${r.skills.join(', ')}</td>
          <td class="nowrap actions">${this.mayEdit(r) ? html`
            <button type="button" class="small" data-up="${i}" ${i === 0 ? 'disabled' : ''} aria-label="${t('rules.move_up_n', { n: i + 1 })}">↑</button>
            <button type="button" class="small" data-down="${i}" ${i === this.rules.length - 1 ? 'disabled' : ''} aria-label="${t('rules.move_down_n', { n: i + 1 })}">↓</button>
            <button type="button" class="small" data-edit="${r.id}">${t('rules.edit')}</button>
            <button type="button" class="small danger" data-delete="${r.id}">${t('rules.delete')}</button>` : ''}</td></tr>`)}</tbody></table>`
        : html`<p class="empty" id="rule-empty">${t('rules.empty', { queue: (this.queues.find((q) => q.is_default) || {}).name || '' })}</p>`}
      <section class="panel admin-panel" aria-labelledby="rt-h">
        <h2 id="rt-h">${t('rules.test')}</h2>
        <p class="muted small">${t('rules.test_hint')}</p>
        <form id="rule-test" class="form-grid">
          <label>${t('rules.cond.channel')}<select name="channel" id="test-channel" required>${WORK_CHANNELS.map((v) => html`<option value="${v}">${enumText('channel', v)}</option>`)}</select></label>
          <label>${t('rules.cond.to_addr')}<input name="to_addr" id="test-to" placeholder="+864008008000"></label>
          <label>${t('rules.subject')}<input name="subject" id="test-subject"></label>
          <label>${t('rules.body')}<input name="body" id="test-body"></label>
          <label>${t('rules.cond.tier')}${select('tier', 'test-tier', TIERS, 'tier')}</label>
          <label>${t('rules.cond.language')}<input name="language" id="test-language" placeholder="zh"></label>
          <label>${t('rules.cond.kind')}${select('kind', 'test-kind', KINDS, 'kind')}</label>
          <div class="row"><button type="submit" class="primary" id="test-go">${t('rules.test_go')}</button></div>
        </form>
        <div id="rule-test-result" role="status" aria-live="polite"></div>
      </section>
      <dialog id="rule-dialog" class="admin-dialog" aria-labelledby="rule-dialog-title">
        <form id="rule-form" method="dialog">
          <h2 id="rule-dialog-title"></h2>
          <div class="form-grid">
            <label>${t('rules.queue')}<select name="queue_id" id="rule-queue" required>${this.editableQueues().map((q) => html`<option value="${q.id}">${q.name}</option>`)}</select></label>
            <label>${t('rules.cond.channel')}${select('channel', 'rule-channel', WORK_CHANNELS, 'channel')}</label>
            <label>${t('rules.cond.to_addr')}<input name="to_addr" id="rule-to"></label>
            <label>${t('rules.cond.keyword')}<input name="keyword" id="rule-keyword"></label>
            <label>${t('rules.cond.tier')}${select('tier', 'rule-tier', TIERS, 'tier')}</label>
            <label>${t('rules.cond.language')}<input name="language" id="rule-language" placeholder="zh"></label>
            <label>${t('rules.cond.kind')}${select('kind', 'rule-kind', KINDS, 'kind')}</label>
            <label>${t('rules.boost')}<input name="priority_boost" id="rule-boost" type="number" min="-10" max="10" value="0"></label>
            <label>${t('rules.set_kind')}<select name="set_kind" id="rule-set-kind"><option value="">${t('rules.keep_kind')}</option>
              ${KINDS.map((v) => html`<option value="${v}">${enumText('kind', v)}</option>`)}</select></label>
            <label>${t('rules.skills')}<input name="skills" id="rule-skills" placeholder="${t('users.list_hint')}"></label>
          </div>
          <p class="muted small">${t('rules.form_hint')}</p>
          <div class="row dialog-actions">
            <button type="submit" class="primary" id="rule-save">${t('common.save')}</button>
            <button type="button" id="rule-cancel">${t('common.cancel')}</button>
          </div>
        </form>
      </dialog>`);
    this.wire();
  }

  wire() {
    this.querySelector('#rule-new').onclick = () => this.openRule(null);
    for (const b of this.querySelectorAll('[data-edit]')) b.onclick = () => this.openRule(this.rules.find((r) => r.id === Number(b.dataset.edit)));
    for (const b of this.querySelectorAll('[data-delete]')) {
      b.onclick = () => {
        const r = this.rules.find((x) => x.id === Number(b.dataset.delete));
        if (!confirm(t('rules.delete_confirm'))) return;
        runChange(() => api.del(`/api/queues/${r.queue_id}/rules/${r.id}`), () => this.load());
      };
    }
    for (const b of this.querySelectorAll('[data-up]')) b.onclick = () => this.move(Number(b.dataset.up), -1);
    for (const b of this.querySelectorAll('[data-down]')) b.onclick = () => this.move(Number(b.dataset.down), 1);
    const dialog = this.querySelector('#rule-dialog');
    this.querySelector('#rule-cancel').onclick = () => dialog.close();
    this.querySelector('#rule-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.saveRule(e.target);
    });
    this.querySelector('#rule-test').addEventListener('submit', (e) => {
      e.preventDefault();
      this.test(e.target);
    });
  }

  openRule(r) {
    const dialog = this.querySelector('#rule-dialog');
    const f = this.querySelector('#rule-form');
    this.editing = r;
    dialog.querySelector('#rule-dialog-title').textContent = r ? t('rules.edit_title') : t('rules.new');
    f.reset();
    if (r) {
      f.queue_id.value = r.queue_id;
      for (const c of CONDITIONS) f[c].value = r[c] || '';
      f.priority_boost.value = r.priority_boost;
      f.set_kind.value = r.set_kind || '';
      f.skills.value = r.skills.join(', ');
    }
    openDialog(dialog);
  }

  body(r) {
    const b = { position: r.position, priority_boost: r.priority_boost, skills: r.skills, set_kind: r.set_kind || '' };
    for (const c of CONDITIONS) b[c] = r[c] || '';
    return b;
  }

  async saveRule(f) {
    const r = this.editing;
    const rule = {
      queue_id: Number(f.queue_id.value),
      priority_boost: Number(f.priority_boost.value || 0),
      skills: splitList(f.skills.value),
      set_kind: f.set_kind.value,
      position: r ? r.position : (this.rules.reduce((m, x) => Math.max(m, x.position), 0) + 10),
    };
    for (const c of CONDITIONS) rule[c] = f[c].value.trim();
    try {
      if (r && r.queue_id === rule.queue_id) {
        await api.put(`/api/queues/${r.queue_id}/rules/${r.id}`, this.body(rule));
      } else {
        // A rule that changes queue is one rule less in the old queue and one more in the new.
        await api.post(`/api/queues/${rule.queue_id}/rules`, this.body(rule));
        if (r) await api.del(`/api/queues/${r.queue_id}/rules/${r.id}`);
      }
      notify(t('common.saved'));
      this.querySelector('#rule-dialog').close();
      await this.load();
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  /** Swaps rule `i` with its neighbour (`by` = -1 up, 1 down). */
  async move(i, by) {
    const order = [...this.rules];
    const j = i + by;
    if (j < 0 || j >= order.length) return;
    const rule = order[i];
    [order[i], order[j]] = [order[j], order[i]];
    await runChange(async () => {
      try {
        // One call that renumbers the whole order (to: the new place, 1 = tried first).
        await api.post(`/api/queues/${rule.queue_id}/rules/${rule.id}/move`, { to: j + 1 });
        return;
      } catch (e) {
        if (!e.missing && e.status !== 405) throw e;
      }
      // Servers without it: positions 10, 20, 30 … in the new order, rule by rule.
      for (const [k, r] of order.entries()) {
        const position = (k + 1) * 10;
        if (r.position === position) continue;
        await api.put(`/api/queues/${r.queue_id}/rules/${r.id}`, this.body({ ...r, position }));
      }
    }, async () => {
      await this.load();
      const moved = this.querySelector(`[data-${by < 0 ? 'up' : 'down'}="${j}"]`);
      if (moved && !moved.disabled) moved.focus();
    }, t('rules.moved'));
  }

  async test(f) {
    const out = this.querySelector('#rule-test-result');
    const sample = {};
    for (const k of ['channel', 'to_addr', 'subject', 'body', 'tier', 'language', 'kind']) {
      const v = f[k].value.trim();
      if (v) sample[k] = v;
    }
    for (const tr of this.querySelectorAll('#rule-list tr.hit')) tr.classList.remove('hit');
    try {
      const r = await api.post('/api/routing/test', sample);
      const failed = (r.evaluated || []).filter((e) => !e.matched);
      render(out, html`<div class="panel test-result" id="test-verdict">
        <p><strong>${t('rules.goes_to', { queue: r.queue_name || this.queueName(r.queue_id) })}</strong></p>
        <p id="test-why">${r.fallback || !r.rule_id ? t('rules.why_default')
          : t('rules.why_rule', { n: this.rules.findIndex((x) => x.id === r.rule_id) + 1, conditions: (r.matched || []).map((c) => t('rules.cond.' + c)).join(', ') || t('rules.matches_all') })}</p>
        ${failed.length ? html`<details><summary>${t('rules.not_matched', { n: failed.length })}</summary><ul class="small">
          ${failed.map((e) => html`<li>${t('rules.rule_n', { n: this.rules.findIndex((x) => x.id === e.rule_id) + 1 })} (${this.queueName(e.queue_id)}): ${t('rules.failed_on', { condition: t('rules.cond.' + e.failed_on) })}</li>`)}</ul></details>` : ''}
      </div>`);
      const hit = r.rule_id && this.querySelector(`#rule-list tr[data-rule-id="${r.rule_id}"]`);
      if (hit) hit.classList.add('hit');
    } catch (e) {
      render(out, html`<p class="error" role="alert">${e.missing ? t('common.not_available') : errorText(e)}</p>`);
    }
  }
}

customElements.define('hl-admin-rules', HlAdminRules);
