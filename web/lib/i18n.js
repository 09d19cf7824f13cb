// Message catalogs (web/i18n/en.json, web/i18n/zh-CN.json) and locale-aware formatting.
// Usage: await i18n.load('zh-CN'); t('ticket.reply'); t('offer.waiting', { s: 12 });
// Components re-render on the window event `hl-locale`. English fills any gap.
// Dates and times are shown in the center's time zone (setTimeZone('Asia/Shanghai'), from
// /api/auth/me or the wallboard's frames), never the browser's. Server text that is data
// (enum values, error codes, generated subjects and notes) goes through the catalogs too:
// enumText('status', 'open'), errorText(e), systemText({kind, params}, storedText).

export const LOCALES = ['en', 'zh-CN'];
const STORE_KEY = 'hotline.locale';

class I18n {
  constructor() {
    this.locale = 'en';
    this.messages = {};
    this.fallback = {};
    this.timeZone = undefined;
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

  has(key) {
    return key in this.messages || key in this.fallback;
  }
}

export const i18n = new I18n();
export const t = (key, vars) => i18n.t(key, vars);

/** The message for `key`, or `fallback` (e.g. the raw value) when no catalog has it. */
export function tOr(key, fallback, vars) {
  return i18n.has(key) ? i18n.t(key, vars) : fallback;
}

/** A value of one of the server's enums (status, kind, channel, cause, …) in the reader's language. */
export function enumText(group, value) {
  if (value === null || value === undefined || value === '') return '';
  return tOr(`${group}.${value}`, String(value));
}

/** Parameters of system text whose values are themselves enum values. */
const PARAM_ENUMS = {
  cause: 'cause', result: 'cause', outcome: 'callback.outcome', channel: 'channel', reason: 'presence.reason',
  from_status: 'complaint.status', to_status: 'complaint.status', why: 'complaint.reason',
};

/**
 * Text the server generated, stored as data `{kind, params}` (a ticket's subject_data, a
 * note's meta.text): `t('system.' + kind, params)`, else the stored English text.
 */
export function systemText(data, stored) {
  if (!data || typeof data !== 'object' || !data.kind || !i18n.has('system.' + data.kind)) return stored ?? '';
  const params = { ...(data.params || {}) };
  for (const [k, group] of Object.entries(PARAM_ENUMS)) {
    if (params[k] !== undefined && params[k] !== null) params[k] = enumText(group, params[k]);
  }
  return t('system.' + data.kind, params);
}

/** A ticket's subject in the reader's language (generated subjects are data). */
export function subjectText(ticket) {
  if (!ticket) return '';
  return systemText(ticket.subject_data, ticket.subject ?? ticket.ticket_subject ?? '');
}

/**
 * An error from the API or /ws in the reader's language, from its stable `code` (and `field`),
 * never the server's English message.
 */
export function errorText(e) {
  if (!e) return t('error.unknown');
  const code = e.code || (e.status ? `http_${e.status}` : 'unknown');
  const text = tOr('error.' + code, '') || (e.status >= 500 ? t('error.internal') : t('error.unknown'));
  if (!e.field) return text;
  return t('error.with_field', { field: tOr('field.' + e.field, e.field), error: text });
}

/** Uses `zone` (IANA name) for every date and time shown; ignores names the browser lacks. */
export function setTimeZone(zone) {
  if (!zone || zone === i18n.timeZone) return;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    i18n.timeZone = zone;
  } catch {
    /* unknown zone: keep the previous one */
  }
}

function parts(ms, zone = i18n.timeZone) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const p = {};
  for (const x of f.formatToParts(new Date(ms))) if (x.type !== 'literal') p[x.type] = Number(x.value);
  return p;
}

/** Milliseconds the center's zone is ahead of UTC at `ms`. */
export function zoneOffsetMs(ms) {
  const p = parts(ms);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The instant of a wall-clock time in the center's zone (month 1–12). */
export function zonedToMs(year, month, day, hour = 0, minute = 0) {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  let ms = guess - zoneOffsetMs(guess);
  ms = guess - zoneOffsetMs(ms);
  return ms;
}

/** Midnight of the day of `ms` in the center's zone. */
export function startOfDay(ms = Date.now()) {
  const p = parts(ms);
  return zonedToMs(p.year, p.month, p.day);
}

/** `ms` as the value of an <input type="datetime-local"> in the center's zone. */
export function toLocalInput(ms) {
  const p = parts(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${p.year}-${two(p.month)}-${two(p.day)}T${two(p.hour % 24)}:${two(p.minute)}`;
}

/** The instant of an <input type="datetime-local"> value read in the center's zone. */
export function fromLocalInput(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || '');
  return m ? zonedToMs(+m[1], +m[2], +m[3], +m[4], +m[5]) : null;
}

/** Fills `data-i18n` (text), `data-i18n-placeholder`, `data-i18n-title`, `data-i18n-label`. */
export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}

/** A time of today as "14:05", another day with its date; in the center's time zone. */
export function fmtDateTime(ms) {
  if (!ms) return '';
  const day = (x) => { const p = parts(x); return `${p.year}-${p.month}-${p.day}`; };
  const sameDay = day(ms) === day(Date.now());
  return new Intl.DateTimeFormat(i18n.locale, sameDay
    ? { hour: '2-digit', minute: '2-digit', timeZone: i18n.timeZone }
    : { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: i18n.timeZone }).format(new Date(ms));
}

/** "14:05" in the center's time zone. */
export function fmtTime(ms) {
  return new Intl.DateTimeFormat(i18n.locale, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: i18n.timeZone }).format(new Date(ms));
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
