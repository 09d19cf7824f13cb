// Message catalogs (web/i18n/en.json, web/i18n/zh-CN.json) and locale-aware formatting.
// Usage: await i18n.load('zh-CN'); t('ticket.reply'); t('offer.waiting', { s: 12 });
// Components re-render on the window event `hl-locale`. English fills any gap.

export const LOCALES = ['en', 'zh-CN'];
const STORE_KEY = 'hotline.locale';

class I18n {
  constructor() {
    this.locale = 'en';
    this.messages = {};
    this.fallback = {};
  }

  /** The locale to start with: the stored choice, else the browser's language. */
  preferred() {
    const saved = localStorage.getItem(STORE_KEY);
    if (LOCALES.includes(saved)) return saved;
    return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
  }

  async fetchCatalog(locale) {
    const res = await fetch(`/i18n/${locale}.json`, { cache: 'no-cache' });
    if (!res.ok) throw new Error(`catalog ${locale}: ${res.status}`);
    return res.json();
  }

  async load(locale) {
    if (!LOCALES.includes(locale)) locale = 'en';
    if (!Object.keys(this.fallback).length) this.fallback = await this.fetchCatalog('en');
    this.messages = locale === 'en' ? this.fallback : await this.fetchCatalog(locale);
    this.locale = locale;
    localStorage.setItem(STORE_KEY, locale);
    document.documentElement.lang = locale;
    translate(document);
    window.dispatchEvent(new CustomEvent('hl-locale', { detail: locale }));
  }

  t(key, vars) {
    let s = this.messages[key] ?? this.fallback[key] ?? key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] ?? m));
    return s;
  }
}

export const i18n = new I18n();
export const t = (key, vars) => i18n.t(key, vars);

/** Fills `data-i18n` (text), `data-i18n-placeholder`, `data-i18n-title`, `data-i18n-label`. */
export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}

export function fmtDateTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return new Intl.DateTimeFormat(i18n.locale, sameDay
    ? { hour: '2-digit', minute: '2-digit' }
    : { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(d);
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** "3 min ago" in the current locale. */
export function fmtAgo(ms) {
  const diff = (ms - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(i18n.locale, { numeric: 'auto' });
  const abs = Math.abs(diff);
  if (abs < 60) return rtf.format(Math.round(diff), 'second');
  if (abs < 3600) return rtf.format(Math.round(diff / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), 'hour');
  return rtf.format(Math.round(diff / 86400), 'day');
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
