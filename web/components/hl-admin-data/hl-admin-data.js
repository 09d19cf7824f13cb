// <hl-admin-data> — Import & export for admins: upload a customers or orders CSV (UTF-8 or
// GB18030, guessed or chosen; optional column=field mapping), as a dry run or for real; a
// progress bar while the job runs, then its counts and the refused rows with their line
// numbers (a dry run also lists what it would create or update); the latest imports; and
// download links for the exports (customers, tickets, interactions as CSV or JSON Lines).
// Usage: <hl-admin-data></hl-admin-data> (the console shows it at #/admin/data).

import { api, ApiError, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, t } from '../../lib/i18n.js';

const POLL_MS = 500;

class HlAdminData extends HTMLElement {
  connectedCallback() {
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.job = null;
    this.rows = [];
    this.draw();
    this.loadJobs();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
    clearTimeout(this.timer);
  }

  async loadJobs() {
    try {
      this.jobs = (await api.get('/api/imports')).items;
    } catch {
      this.jobs = [];
    }
    this.drawJobs();
  }

  draw() {
    const exports = ['customers', 'tickets', 'interactions'];
    render(this, html`
      <div class="admin-head"><h1>${t('data.title')}</h1></div>
      <section class="panel admin-sub" id="data-import">
        <h2>${t('data.import')}</h2>
        <form class="filters" id="data-form">
          <label>${t('data.kind')}<select name="kind" id="data-kind">
            <option value="customers">${t('data.kind.customers')}</option>
            <option value="orders">${t('data.kind.orders')}</option></select></label>
          <label>${t('data.file')}<input type="file" name="file" id="data-file" accept=".csv,text/csv" required></label>
          <label>${t('data.encoding')}<select name="encoding" id="data-encoding">
            <option value="auto">${t('data.encoding.auto')}</option>
            <option value="utf-8">UTF-8</option>
            <option value="gb18030">GB18030 / GBK</option></select></label>
          <label>${t('data.map')}<input name="map" id="data-map" placeholder="${t('data.map_hint')}"></label>
          <label class="inline"><input type="checkbox" name="dry_run" id="data-dry" checked> ${t('data.dry_run')}</label>
          <button type="submit" class="primary" id="data-upload">${t('data.upload')}</button>
        </form>
        <p class="muted small">${t('data.help')}</p>
        <div id="data-job"></div>
      </section>
      <section class="panel admin-sub" id="data-export">
        <h2>${t('data.export')}</h2>
        <table class="list"><tbody>${exports.map((x) => html`<tr><td>${t('data.export.' + x)}</td>
          <td><a class="button" id="export-${x}-csv" href="/api/export/${x}.csv" download>CSV</a>
          <a class="button" id="export-${x}-jsonl" href="/api/export/${x}.jsonl" download>JSON Lines</a></td></tr>`)}</tbody></table>
      </section>
      <section class="panel admin-sub"><h2>${t('data.history')}</h2><div id="data-jobs"></div></section>`);
    const form = this.querySelector('#data-form');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.upload(form);
    });
    this.drawJob();
    this.drawJobs();
  }

  async upload(form) {
    const file = form.file.files[0];
    if (!file) return;
    const q = query({
      kind: form.kind.value,
      dry_run: form.dry_run.checked ? 'true' : 'false',
      encoding: form.encoding.value,
      map: form.map.value.trim(),
      file_name: file.name,
    });
    const box = this.querySelector('#data-job');
    render(box, html`<p class="muted">${t('data.uploading')}</p>`);
    try {
      const res = await fetch(`/api/imports${q}`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
        body: file,
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) {
        const err = data.error || {};
        throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText, err.field);
      }
      this.job = data;
      this.rows = [];
      this.drawJob();
      this.follow();
    } catch (e) {
      render(box, html`<p class="error" role="alert" id="data-error">${errorText(e)}</p>`);
    }
  }

  async follow() {
    clearTimeout(this.timer);
    try {
      this.job = await api.get(`/api/imports/${this.job.id}`);
    } catch (e) {
      render(this.querySelector('#data-job'), html`<p class="error" role="alert">${errorText(e)}</p>`);
      return;
    }
    const finished = this.job.status === 'done' || this.job.status === 'failed';
    if (finished) {
      const outcome = this.job.dry_run ? '' : 'refused';
      this.rows = (await api.get(`/api/imports/${this.job.id}/rows${query({ outcome, limit: 500 })}`)).items;
      this.loadJobs();
    } else {
      this.timer = setTimeout(() => this.follow(), POLL_MS);
    }
    this.drawJob();
  }

  drawJob() {
    const box = this.querySelector('#data-job');
    const j = this.job;
    if (!box || !j) return;
    const pct = Math.round((j.progress || 0) * 100);
    const would = j.dry_run ? 'data.would.' : 'data.did.';
    render(box, html`
      <div id="data-status" data-status="${j.status}">
        <p><strong>${j.file_name}</strong> · ${t('data.kind.' + j.kind)} · ${j.dry_run ? t('data.dry_run') : t('data.real_run')}
          · ${t('data.status.' + j.status)}${j.detected_encoding ? html` · ${j.detected_encoding}` : ''}</p>
        <progress id="data-progress" max="100" value="${pct}" aria-label="${t('data.progress')}">${pct}%</progress>
        <span class="small">${pct}% · ${t('data.rows_done', { n: j.rows_done })}</span>
        ${j.error ? html`<p class="error" role="alert">${j.error}</p>` : ''}
        <ul class="counts" id="data-counts">
          <li data-count="created">${t(would + 'created', { n: j.created })}</li>
          <li data-count="updated">${t(would + 'updated', { n: j.updated })}</li>
          <li data-count="unchanged">${t('data.unchanged', { n: j.unchanged })}</li>
          <li data-count="refused" class="${j.refused ? 'error' : ''}">${t('data.refused', { n: j.refused })}</li>
        </ul>
      </div>
      ${this.rows.length ? html`<table class="list" id="data-rows"><thead><tr><th>${t('data.line')}</th><th>${t('data.outcome')}</th>
        <th>${t('data.key')}</th><th>${t('data.field')}</th><th>${t('data.reason')}</th></tr></thead>
        <tbody>${this.rows.map((r) => html`<tr data-line="${r.line}" data-outcome="${r.outcome}" class="${r.outcome === 'refused' ? 'refused' : ''}">
          <td>${r.line}</td><td>${t((j.dry_run ? 'data.would_outcome.' : 'data.outcome.') + r.outcome)}</td><td>${r.key}</td>
          <td>${r.field}</td><td>${r.message}</td></tr>`)}</tbody></table>` : ''}`);
  }

  drawJobs() {
    const box = this.querySelector('#data-jobs');
    if (!box || !this.jobs) return;
    render(box, this.jobs.length ? html`<table class="list" id="data-job-list"><thead><tr><th>#</th><th>${t('data.file')}</th>
      <th>${t('data.kind')}</th><th>${t('data.when')}</th><th>${t('data.status')}</th><th>${t('data.counts')}</th></tr></thead>
      <tbody>${this.jobs.map((j) => html`<tr><td>${j.id}</td><td>${j.file_name}${j.dry_run ? html` <span class="muted">(${t('data.dry_run')})</span>` : ''}</td>
        <td>${t('data.kind.' + j.kind)}</td><td class="nowrap small">${fmtDateTime(j.created_at)}</td><td>${t('data.status.' + j.status)}</td>
        <td class="small">${j.created} / ${j.updated} / ${j.unchanged} / ${j.refused}</td></tr>`)}</tbody></table>`
      : html`<p class="empty">${t('data.no_jobs')}</p>`);
  }
}

customElements.define('hl-admin-data', HlAdminData);
