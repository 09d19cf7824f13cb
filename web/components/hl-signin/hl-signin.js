// <hl-signin> — the sign-in form. On success it fires `hl-signed-in` on window.
// Usage: <hl-signin></hl-signin>

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, i18n, t, LOCALES } from '../../lib/i18n.js';

class HlSignin extends HTMLElement {
  connectedCallback() {
    this.draw();
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  draw() {
    render(this, html`
      <form class="signin panel" id="signin-form" novalidate>
        <h1>Hotline</h1>
        <p class="muted">${t('signin.intro')}</p>
        <label>${t('signin.login')}<input name="login" id="login" autocomplete="username" required autofocus></label>
        <label>${t('signin.password')}<input name="password" id="password" type="password" autocomplete="current-password" required></label>
        <p class="error" id="signin-error" role="alert"></p>
        <button class="primary" type="submit" id="signin-submit">${t('signin.submit')}</button>
        <label>${t('nav.language')}
          <select id="signin-locale">${LOCALES.map((l) => html`<option value="${l}" ${l === i18n.locale ? 'selected' : ''}>${t('locale.' + l)}</option>`)}</select>
        </label>
      </form>`);
    this.querySelector('#signin-locale').addEventListener('change', (e) => i18n.load(e.target.value));
    this.querySelector('form').addEventListener('submit', (e) => this.submit(e));
  }

  async submit(e) {
    e.preventDefault();
    const form = e.target;
    const err = this.querySelector('#signin-error');
    err.textContent = '';
    const button = this.querySelector('#signin-submit');
    button.disabled = true;
    try {
      await api.post('/api/auth/login', { login: form.login.value.trim(), password: form.password.value });
      window.dispatchEvent(new CustomEvent('hl-signed-in'));
    } catch (x) {
      err.textContent = x.code === 'bad_credentials' ? t('signin.bad') : x.code === 'rate_limited' ? t('signin.limited') : errorText(x);
      button.disabled = false;
      form.password.select();
    }
  }
}

customElements.define('hl-signin', HlSignin);
