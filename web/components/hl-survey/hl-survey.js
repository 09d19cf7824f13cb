// <hl-survey> — the public satisfaction survey of a link `/survey/{token}` (no sign-in): five
// score buttons and an optional comment, in the customer's language (switchable). An expired,
// unknown or answered link shows a clear message and records nothing. `?unsubscribe=1` (the
// email's link) offers "no more surveys".
// Usage: <hl-survey></hl-survey> in survey.html.

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, i18n, t, LOCALES } from '../../lib/i18n.js';

const SCORES = [1, 2, 3, 4, 5];

class HlSurvey extends HTMLElement {
  async connectedCallback() {
    this.token = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
    this.unsubscribe = new URLSearchParams(location.search).get('unsubscribe') === '1';
    this.score = null;
    this.error = null;
    try {
      this.survey = await api.get(`/api/survey/${encodeURIComponent(this.token)}`);
    } catch (e) {
      this.survey = null;
      this.loadError = e;
    }
    // The customer's language, unless they switched on this link's page before.
    const chosen = sessionStorage.getItem(this.localeKey);
    const lang = chosen || (this.survey ? this.survey.language : i18n.preferred());
    await i18n.load(LOCALES.includes(lang) ? lang : 'en');
    window.addEventListener('hl-locale', () => this.draw());
    this.draw();
  }

  get localeKey() {
    return `hotline.survey.locale.${this.token}`;
  }

  body() {
    if (!this.survey) {
      const limited = this.loadError && this.loadError.code === 'rate_limited';
      return html`<p class="survey-state" id="survey-state" data-state="invalid">${limited ? errorText(this.loadError) : t('survey.invalid')}</p>`;
    }
    const s = this.survey;
    if (this.optedOut) return html`<p class="survey-state" id="survey-state" data-state="opted_out">${t('survey.opted_out')}</p>`;
    if (s.state === 'answered') {
      return html`<p class="survey-state" id="survey-state" data-state="answered">${this.thanked ? t('survey.thanks') : t('survey.already')}</p>
        ${this.unsubscribe ? this.optOutForm() : ''}`;
    }
    if (s.state === 'expired') return html`<p class="survey-state" id="survey-state" data-state="expired">${t('survey.expired')}</p>${this.unsubscribe ? this.optOutForm() : ''}`;
    return html`
      <form id="survey-form" class="portal-form" novalidate>
        <fieldset>
          <legend>${t('survey.question', { ticket: s.ticket_number })}</legend>
          <div class="survey-scores" role="radiogroup" aria-label="${t('survey.score')}">
            ${SCORES.map((n) => html`<button type="button" class="survey-score" data-score="${n}" role="radio" aria-checked="${this.score === n}" aria-label="${n} — ${t('survey.score.' + n)}"><span class="num">${n}</span><span class="word">${t('survey.score.' + n)}</span></button>`)}
          </div>
        </fieldset>
        <label>${t('survey.comment')}<textarea id="survey-comment" rows="4" maxlength="2000"></textarea></label>
        ${this.error ? html`<p class="error" role="alert" id="survey-error">${this.error}</p>` : ''}
        <button type="submit" class="primary" id="survey-send" ${this.score ? '' : 'disabled'}>${t('survey.send')}</button>
      </form>
      ${this.unsubscribe ? this.optOutForm() : ''}`;
  }

  optOutForm() {
    return html`<div class="survey-optout"><p>${t('survey.optout_question')}</p><button type="button" id="survey-optout">${t('survey.optout')}</button></div>`;
  }

  draw() {
    const comment = this.querySelector('#survey-comment')?.value || '';
    render(this, html`
      <header class="portal-head">
        <div><h1>${t('survey.title')}</h1></div>
        <label>${t('nav.language')}<select id="survey-locale">${LOCALES.map((l) => html`<option value="${l}" ${l === i18n.locale ? 'selected' : ''}>${t('locale.' + l)}</option>`)}</select></label>
      </header>
      <section class="panel">${this.body()}</section>`);
    this.querySelector('#survey-locale').addEventListener('change', (e) => {
      sessionStorage.setItem(this.localeKey, e.target.value);
      i18n.load(e.target.value);
    });
    const box = this.querySelector('#survey-comment');
    if (box) box.value = comment;
    this.querySelectorAll('.survey-score').forEach((b) => b.addEventListener('click', () => {
      this.score = Number(b.dataset.score);
      this.draw();
    }));
    this.querySelector('#survey-form')?.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.querySelector('#survey-optout')?.addEventListener('click', () => this.optOut());
  }

  async send() {
    if (!this.score) return;
    const comment = this.querySelector('#survey-comment')?.value || '';
    try {
      this.survey = await api.post(`/api/survey/${encodeURIComponent(this.token)}`, { score: this.score, comment });
      this.thanked = true;
      this.error = null;
    } catch (e) {
      if (e.code === 'conflict') {
        // Answered meanwhile (another tab) or expired: show the link's state as it is now.
        try {
          this.survey = await api.get(`/api/survey/${encodeURIComponent(this.token)}`);
        } catch {
          this.survey = null;
        }
      } else {
        this.error = errorText(e);
      }
    }
    this.draw();
  }

  async optOut() {
    try {
      await api.post(`/api/survey/${encodeURIComponent(this.token)}/opt-out`);
      this.optedOut = true;
    } catch (e) {
      this.error = errorText(e);
    }
    this.draw();
  }
}

customElements.define('hl-survey', HlSurvey);
