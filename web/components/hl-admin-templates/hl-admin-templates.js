// <hl-admin-templates> — acknowledgement templates: the text a customer receives when their
// message becomes a ticket, per queue (or the default for all queues), language and channel
// (email, SMS, portal), with a preview rendered by the server with sample values. Placeholders
// per channel as the server lists them (email: {ticket} {subject} {name}; portal and SMS:
// {ticket} {kind} {link}). Without a template the built-in English or Chinese text is sent.
// Usage: <hl-admin-templates></hl-admin-templates> (the console shows it at #/admin/templates).

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, t, tOr } from '../../lib/i18n.js';
import { notify } from '../../lib/session.js';
import { runChange } from '../../lib/admin.js';

const CHANNELS = ['email', 'portal', 'sms'];
const LANGUAGES = ['zh', 'en'];
const PLACEHOLDERS = { email: ['ticket', 'subject', 'name'], portal: ['ticket', 'kind', 'link'], sms: ['ticket', 'kind', 'link'] };

class HlAdminTemplates extends HTMLElement {
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
      const [queues, list] = await Promise.all([api.get('/api/queues'), api.optional('/api/ack-templates')]);
      this.queues = queues;
      // null: this server keeps only email templates and cannot list them.
      this.templates = list === null ? null : Array.isArray(list) ? list : list.templates || [];
      const meta = list && !Array.isArray(list) ? list : {};
      this.placeholders = meta.placeholders || PLACEHOLDERS;
      this.channels = meta.channels || CHANNELS;
      this.languages = meta.languages || LANGUAGES;
      this.draw();
    } catch (e) {
      render(this, html`<h1>${t('templates.title')}</h1><p class="error" role="alert">${errorText(e)}</p>`);
    }
  }

  /** 'zh' → 中文 (the catalogs name locales, the templates languages). */
  languageName(l) {
    return tOr('templates.lang.' + l, tOr('locale.' + l, l));
  }

  queueName(id) {
    if (!id) return t('templates.all_queues');
    const q = this.queues.find((x) => x.id === id);
    return q ? q.name : `#${id}`;
  }

  draw() {
    if (!this.queues) return;
    const list = this.templates || [];
    render(this, html`
      <div class="admin-head"><h1>${t('templates.title')}</h1></div>
      <p class="muted small">${t('templates.hint')}</p>
      ${this.templates === null ? html`<p class="muted small" id="tpl-email-only">${t('templates.email_only')}</p>` : ''}
      ${list.length ? html`<table class="list" id="tpl-list"><thead><tr><th>${t('templates.queue')}</th><th>${t('templates.language')}</th>
          <th>${t('templates.channel')}</th><th>${t('templates.subject')}</th><th>${t('templates.body')}</th><th></th></tr></thead>
        <tbody>${list.map((x, i) => html`<tr data-tpl="${i}">
          <td class="nowrap">${x.queue_name || this.queueName(x.queue_id)}</td><td class="nowrap">${this.languageName(x.language)}</td>
          <td class="nowrap">${t('templates.channel.' + x.channel)}</td><td>${x.subject || ''}</td><td class="small excerpt">${x.body}</td>
          <td class="nowrap"><button type="button" class="small" data-edit-tpl="${i}">${t('templates.edit')}</button>
            <button type="button" class="small danger" data-delete-tpl="${i}">${t('templates.delete')}</button></td></tr>`)}</tbody></table>`
        : this.templates ? html`<p class="empty" id="tpl-empty">${t('templates.empty')}</p>` : ''}
      <form class="panel admin-panel" id="tpl-form" aria-labelledby="tpl-h">
        <h2 id="tpl-h">${t('templates.edit_title')}</h2>
        <div class="form-grid">
          <label>${t('templates.queue')}<select name="queue_id" id="tpl-queue"><option value="0">${t('templates.all_queues')}</option>
            ${this.queues.map((q) => html`<option value="${q.id}">${q.name}</option>`)}</select></label>
          <label>${t('templates.language')}<select name="language" id="tpl-language">${this.languages.map((l) => html`<option value="${l}">${this.languageName(l)}</option>`)}</select></label>
          <label>${t('templates.channel')}<select name="channel" id="tpl-channel">${this.channels.map((c) => html`<option value="${c}">${t('templates.channel.' + c)}</option>`)}</select></label>
        </div>
        <label id="tpl-subject-label">${t('templates.subject')}<input name="subject" id="tpl-subject" placeholder="[#{ticket}] {subject}"></label>
        <label>${t('templates.body')}<textarea name="body" id="tpl-body" rows="6" required></textarea></label>
        <p class="muted small" id="tpl-placeholders"></p>
        <div class="row">
          <button type="submit" class="primary" id="tpl-save">${t('common.save')}</button>
          <button type="button" id="tpl-preview-go">${t('templates.preview')}</button>
        </div>
        <div id="tpl-preview" aria-live="polite"></div>
      </form>`);
    this.wire();
  }

  wire() {
    const f = this.querySelector('#tpl-form');
    const syncSubject = () => {
      // SMS has no subject; each channel has its own placeholders.
      this.querySelector('#tpl-subject-label').hidden = f.channel.value === 'sms';
      const list = this.placeholders[f.channel.value] || [];
      this.querySelector('#tpl-placeholders').textContent = t('templates.placeholders', { list: list.map((p) => `{${p}}`).join(' ') });
    };
    f.channel.addEventListener('change', syncSubject);
    syncSubject();
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save(f);
    });
    this.querySelector('#tpl-preview-go').onclick = () => this.preview(f);
    for (const b of this.querySelectorAll('[data-edit-tpl]')) {
      b.onclick = () => {
        const x = this.templates[Number(b.dataset.editTpl)];
        f.queue_id.value = x.queue_id || 0;
        f.language.value = x.language;
        f.channel.value = x.channel;
        f.subject.value = x.subject || '';
        f.body.value = x.body;
        syncSubject();
        f.body.focus();
      };
    }
    for (const b of this.querySelectorAll('[data-delete-tpl]')) {
      b.onclick = () => {
        const x = this.templates[Number(b.dataset.deleteTpl)];
        if (!confirm(t('templates.delete_confirm'))) return;
        runChange(() => api.del(`/api/ack-templates${query({ queue_id: x.queue_id || 0, language: x.language, channel: x.channel })}`), () => this.load());
      };
    }
  }

  values(f) {
    const v = { queue_id: Number(f.queue_id.value), language: f.language.value, channel: f.channel.value };
    if (f.body.value.trim()) v.body = f.body.value;
    if (v.channel !== 'sms' && f.subject.value.trim()) v.subject = f.subject.value;
    return v;
  }

  async save(f) {
    const v = this.values(f);
    try {
      try {
        await api.put('/api/ack-templates', v);
      } catch (e) {
        // A server that keeps only email templates has them at the email route.
        if (!(e.missing || e.status === 405) || v.channel !== 'email') throw e;
        await api.put('/api/email/ack-templates', { queue_id: v.queue_id, language: v.language, subject: v.subject || '', body: v.body || '' });
      }
      notify(t('common.saved'));
      await this.load();
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  async preview(f) {
    const out = this.querySelector('#tpl-preview');
    try {
      const p = await api.post('/api/ack-templates/preview', this.values(f));
      render(out, html`<div class="preview" id="tpl-preview-text">
        <p class="muted small">${t('templates.preview_of', { channel: t('templates.channel.' + f.channel.value) })}${p.source ? html` · ${t('templates.source.' + p.source)}` : ''}</p>
        ${p.subject ? html`<p><strong>${p.subject}</strong></p>` : ''}
        <pre class="preview-body">${p.body ?? p.text ?? ''}</pre></div>`);
    } catch (e) {
      render(out, html`<p class="error" role="alert">${e.missing ? t('common.not_available') : errorText(e)}</p>`);
    }
  }
}

customElements.define('hl-admin-templates', HlAdminTemplates);
