// html`...` — a tagged template that escapes every interpolated value unless it is itself
// Html (from html`` or raw()). Arrays are joined; null, undefined and false render nothing.
// Usage: render(el, html`<p>${userText}</p>${items.map((i) => html`<li>${i}</li>`)}`);

export class Html {
  constructor(text) {
    this.text = text;
  }
  toString() {
    return this.text;
  }
}

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escape(value) {
  return String(value).replace(/[&<>"'`]/g, (c) => ENTITIES[c]);
}

function piece(value) {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(piece).join('');
  return escape(value);
}

export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += piece(values[i]) + strings[i + 1];
  return new Html(out);
}

/** Trusted markup only (our own constants). Never pass user or server text here. */
export function raw(text) {
  return new Html(String(text));
}

export function render(el, content) {
  el.innerHTML = piece(content);
}

/**
 * Search snippets come as escaped text with matches in <b>…</b>. Re-escape everything and
 * allow back only those two tags, as <mark>, so a snippet can never carry other markup.
 */
export function highlighted(snippet) {
  const safe = escape(snippet || '')
    .replace(/&amp;lt;b&amp;gt;|&lt;b&gt;/g, '<mark>')
    .replace(/&amp;lt;\/b&amp;gt;|&lt;\/b&gt;/g, '</mark>')
    .replace(/&amp;(amp|lt|gt|quot|#39);/g, '&$1;');
  const opened = (safe.match(/<mark>/g) || []).length;
  const closed = (safe.match(/<\/mark>/g) || []).length;
  return new Html(safe + '</mark>'.repeat(Math.max(0, opened - closed)));
}

/**
 * The little Markdown knowledge articles use (headings, **bold**, lists), rendered from
 * escaped text, so no markup of the source can pass through.
 */
export function markdownLite(text) {
  const safe = escape(text || '')
    .replace(/^#{1,6} +(.+)$/gm, '<strong class="md-h">$1</strong>')
    .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
    .replace(/^[-*] +(.+)$/gm, '• $1');
  return new Html(safe);
}
