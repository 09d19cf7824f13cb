// <hl-chart> — a small SVG bar chart drawn by our own code (no library): one bar per bucket,
// an optional horizontal target line, labels every few bars, and a text summary for screen
// readers. Usage: chart.show({ label, buckets: [{label:'09:00', value: 4}], max, target, unit })

import { html, render } from '../../lib/html.js';

class HlChart extends HTMLElement {
  show({ label, buckets, max, target, unit = '' }) {
    const W = 600;
    const H = 160;
    const pad = { l: 34, r: 8, t: 10, b: 22 };
    const top = Math.max(max ?? 0, ...buckets.map((b) => b.value ?? 0), 1);
    const bw = (W - pad.l - pad.r) / Math.max(buckets.length, 1);
    const y = (v) => pad.t + (H - pad.t - pad.b) * (1 - v / top);
    const every = Math.ceil(buckets.length / 12);
    const bars = buckets.map((b, i) => {
      if (b.value == null) return '';
      const x = pad.l + i * bw + 1;
      return html`<rect x="${x.toFixed(1)}" y="${y(b.value).toFixed(1)}" width="${Math.max(bw - 2, 1).toFixed(1)}"
        height="${(H - pad.b - y(b.value)).toFixed(1)}" rx="1.5" class="${target != null && b.value < target ? 'below' : ''}"><title>${b.label}: ${b.value}${unit}</title></rect>`;
    });
    const labels = buckets.map((b, i) => (i % every === 0
      ? html`<text x="${(pad.l + i * bw).toFixed(1)}" y="${H - 6}" class="axis">${b.label}</text>` : ''));
    const summary = buckets.filter((b) => b.value != null).map((b) => `${b.label} ${b.value}${unit}`).join(', ');
    render(this, html`
      <figure>
        <figcaption>${label}</figcaption>
        <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${label}: ${summary || '—'}" preserveAspectRatio="none">
          <line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" class="base"></line>
          <text x="2" y="${pad.t + 8}" class="axis">${Math.round(top)}${unit}</text>
          <text x="2" y="${H - pad.b}" class="axis">0</text>
          ${bars}${labels}
          ${target != null ? html`<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(target).toFixed(1)}" y2="${y(target).toFixed(1)}" class="target"></line>` : ''}
        </svg>
      </figure>`);
  }
}

customElements.define('hl-chart', HlChart);
