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
      const password = form.password.value;
      const res = await api.post('/api/auth/login', { login: form.login.value.trim(), password });
      if (res.must_change_password) {
        // An admin reset the password: nothing else works until the user chooses their own.
        this.drawChange(res.user, password);
        return;
      }
      window.dispatchEvent(new CustomEvent('hl-signed-in'));
    } catch (x) {
      err.textContent = x.code === 'bad_credentials' ? t('signin.bad') : x.code === 'rate_limited' ? t('signin.limited') : errorText(x);
      button.disabled = false;
      form.password.select();
    }
  }

  /** The form after an admin's reset: a new password, typed twice, replaces the one-time one. */
  drawChange(user, current) {
    render(this, html`
      <form class="signin panel" id="change-form" novalidate>
        <h1>Hotline</h1>
        <p class="muted">${t('signin.change_intro')}</p>
        <label>${t('signin.new_password')}<input name="password" id="new-password" type="password" autocomplete="new-password" required autofocus></label>
        <label>${t('signin.repeat_password')}<input name="repeat" id="repeat-password" type="password" autocomplete="new-password" required></label>
        <p class="error" id="change-error" role="alert"></p>
        <button class="primary" type="submit" id="change-submit">${t('signin.change_submit')}</button>
      </form>`);
    this.querySelector('form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const form = e.target;
      const err = this.querySelector('#change-error');
      err.textContent = '';
      if (form.password.value !== form.repeat.value) {
        err.textContent = t('signin.mismatch');
        return;
      }
      const button = this.querySelector('#change-submit');
      button.disabled = true;
      try {
        await api.patch(`/api/users/${user.id}`, { password: form.password.value, current_password: current });
        window.dispatchEvent(new CustomEvent('hl-signed-in'));
      } catch (x) {
        // The server's reason is English (zxcvbn's feedback); the hint says it in the locale.
        err.textContent = x.code === 'validation_failed' && x.field === 'password' ? t('signin.weak') : errorText(x);
        button.disabled = false;
        form.password.select();
      }
    });
  }
}

customElements.define('hl-signin', HlSignin);
