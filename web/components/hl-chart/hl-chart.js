// <hl-chart> — a small SVG bar chart drawn by our own code (no library): one bar per bucket,
// an optional horizontal target line, labels every few bars, and a text summary for screen
// readers. It draws at its real size in pixels (redrawn when resized), so the axis text is
// never stretched or squashed, and labels are spaced so they never overlap.
// Usage: chart.show({ label, buckets: [{label:'09:00', value: 4}], max, target, unit })

import { html, render } from '../../lib/html.js';

class HlChart extends HTMLElement {
  connectedCallback() {
    if (window.ResizeObserver && !this.observer) {
      this.observer = new ResizeObserver(() => {
        const plot = this.querySelector('.plot');
        if (!this.data || !plot) return;
        const { width, height } = plot.getBoundingClientRect();
        if (Math.abs(width - this.drawnW) > 1 || Math.abs(height - this.drawnH) > 1) this.show(this.data);
      });
      this.observer.observe(this);
    }
  }

  disconnectedCallback() {
    if (this.observer) this.observer.disconnect();
    this.observer = null;
  }

  show(data) {
    this.data = data;
    const { label, buckets, max, target, unit = '' } = data;
    if (!this.querySelector('.plot')) render(this, html`<figure><figcaption></figcaption><div class="plot"></div></figure>`);
    const plot = this.querySelector('.plot');
    const box = plot.getBoundingClientRect();
    const W = Math.max(Math.round(box.width) || 600, 120);
    const H = Math.max(Math.round(box.height) || 160, 60);
    this.drawnW = box.width;
    this.drawnH = box.height;
    const font = parseFloat(getComputedStyle(plot).fontSize) || 12;
    const pad = { l: Math.round(font * 3), r: 8, t: Math.round(font * 0.9), b: Math.round(font * 1.8) };
    const top = Math.max(max ?? 0, ...buckets.map((b) => b.value ?? 0), 1);
    const bw = (W - pad.l - pad.r) / Math.max(buckets.length, 1);
    const y = (v) => pad.t + (H - pad.t - pad.b) * (1 - v / top);
    // A label is about 3 em wide ("09:15"); leave a gap between neighbours.
    const every = Math.max(1, Math.ceil((font * 3.6) / Math.max(bw, 1)));
    const bars = buckets.map((b, i) => {
      if (b.value == null) return '';
      const x = pad.l + i * bw + 1;
      return html`<rect x="${x.toFixed(1)}" y="${y(b.value).toFixed(1)}" width="${Math.max(bw - 2, 1).toFixed(1)}"
        height="${(H - pad.b - y(b.value)).toFixed(1)}" rx="1.5" class="${target != null && b.value < target ? 'below' : ''}"><title>${b.label}: ${b.value}${unit}</title></rect>`;
    });
    const labels = buckets.map((b, i) => (i % every === 0
      ? html`<text x="${(pad.l + i * bw).toFixed(1)}" y="${H - Math.round(font * 0.45)}" class="axis">${b.label}</text>` : ''));
    const summary = buckets.filter((b) => b.value != null).map((b) => `${b.label} ${b.value}${unit}`).join(', ');
    this.querySelector('figcaption').textContent = label;
    render(plot, html`
        <svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${label}: ${summary || '—'}">
          <line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" class="base"></line>
          <text x="2" y="${pad.t + font * 0.6}" class="axis">${Math.round(top)}${unit}</text>
          <text x="2" y="${H - pad.b}" class="axis">0</text>
          ${bars}${labels}
          ${target != null ? html`<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(target).toFixed(1)}" y2="${y(target).toFixed(1)}" class="target"></line>` : ''}
        </svg>`);
  }
}

customElements.define('hl-chart', HlChart);
