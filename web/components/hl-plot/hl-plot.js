// <hl-plot> — the reports' charts in plain SVG, drawn by our own code (no library): stacked or
// grouped bars and lines over one x axis (categories, or numbers for a curve), a left and an
// optional right value axis, a dashed 45° reference, a legend, and a text summary for screen
// readers. It draws at its real size in pixels (redrawn when resized) and measures its text in
// the page's font, so labels never overlap, in Chinese too. Colours and the font are attributes
// of the SVG itself (not CSS), so the PNG export (`toPng`) looks like the screen.
// Usage: plot.show({ label, x: ['12/1', …] or { min: 0, max: 100, values: [0, 1, …], unit: '%' },
//   series: [{ name, values: [4, null, …], kind: 'bar' | 'line', axis: 'right' }], labelSteps: [1, 2, 7],
//   stacked: true, left: { unit: '%', max: 100 }, right: { unit: ' s', min: 20 }, reference: 'Equal share' });
//   await plot.toPng('hotline-volume-2026-12-01-2026-12-07.png');

const COLORS = ['#1f5fbf', '#d9822b', '#17804a', '#8e44ad', '#c0392b', '#16a085', '#6b7687', '#b8860b'];
const INK = '#4a5566';
const GRID = '#eef1f5';
const BASE = '#c5cdd8';

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const f1 = (n) => (Math.round(n * 10) / 10).toString();

/** A round top for the axis (1, 2, 2.5, 5 × 10ⁿ steps) and its step, for about four ticks. */
function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const top = Math.ceil(max / step - 1e-9) * step;
  return { top, step };
}

/** A tick's text: whole numbers plain, else one decimal. */
function tickText(v, unit = '') {
  return `${Number.isInteger(v) ? v : f1(v)}${unit}`;
}

class HlPlot extends HTMLElement {
  connectedCallback() {
    if (window.ResizeObserver && !this.observer) {
      this.observer = new ResizeObserver(() => {
        const plot = this.querySelector('.plot');
        if (!this.data || !plot) return;
        const { width } = plot.getBoundingClientRect();
        if (Math.abs(width - this.drawnW) > 1) this.show(this.data);
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
    if (!this.querySelector('.plot')) this.innerHTML = '<figure><figcaption></figcaption><div class="plot"></div></figure>';
    const plot = this.querySelector('.plot');
    this.querySelector('figcaption').textContent = data.label || '';
    const box = plot.getBoundingClientRect();
    this.drawnW = box.width;
    const style = getComputedStyle(plot);
    const font = parseFloat(style.fontSize) || 12;
    this.font = { size: font, family: style.fontFamily || 'sans-serif' };
    const W = Math.max(Math.round(box.width) || 720, 240);
    const H = Math.max(Math.round(box.height) || 280, 160);
    plot.innerHTML = this.svg(data, W, H);
  }

  /** Text width in pixels in the page's font. */
  measure(text) {
    if (!this.ctx) this.ctx = document.createElement('canvas').getContext('2d');
    this.ctx.font = `${this.font.size}px ${this.font.family}`;
    return this.ctx.measureText(String(text)).width;
  }

  svg(data, W, H) {
    const font = this.font.size;
    const series = (data.series || []).map((s, i) => ({ ...s, color: s.color || COLORS[i % COLORS.length], index: i }));
    const numeric = !Array.isArray(data.x);
    const xs = numeric ? data.x.values : data.x;
    const n = xs.length;
    const text = (x, y, s, anchor = 'start', extra = '') => `<text x="${f1(x)}" y="${f1(y)}" text-anchor="${anchor}" fill="${INK}"${extra}>${esc(s)}</text>`;

    // The legend on top, wrapped to the width.
    const legend = [];
    const lineH = Math.round(font * 1.5);
    let lx = 0;
    let row = 0;
    for (const s of series) {
      const w = font * 1.6 + this.measure(s.name) + font;
      if (lx > 0 && lx + w > W) {
        row += 1;
        lx = 0;
      }
      legend.push({ s, x: lx, y: row * lineH });
      lx += w;
    }
    if (data.reference) {
      const w = font * 1.6 + this.measure(data.reference) + font;
      if (lx > 0 && lx + w > W) {
        row += 1;
        lx = 0;
      }
      legend.push({ s: { name: data.reference, kind: 'reference', color: BASE }, x: lx, y: row * lineH });
    }
    const legendH = legend.length ? (row + 1) * lineH : 0;

    // Value axes.
    const axisOf = (side) => series.filter((s) => (s.axis === 'right') === (side === 'right'));
    const scale = (side, conf = {}) => {
      const ss = axisOf(side);
      if (!ss.length) return null;
      let max = conf.max ?? 0;
      if (conf.max == null) {
        for (let i = 0; i < n; i++) {
          const stack = data.stacked ? ss.filter((s) => s.kind === 'bar').reduce((a, s) => a + (s.values[i] || 0), 0) : 0;
          max = Math.max(max, stack, ...ss.map((s) => s.values[i] || 0));
        }
      }
      // Small counts keep whole-number ticks (at least 0–4, or `min`).
      const { top, step } = conf.max != null ? { top: conf.max, step: conf.max / 4 } : niceScale(Math.max(max, conf.min ?? 4));
      const ticks = [];
      for (let v = 0; v <= top + 1e-9; v += step) ticks.push(v);
      return { top, ticks, unit: conf.unit || '' };
    };
    const left = scale('left', data.left);
    const right = scale('right', data.right);
    const tickW = (a) => (a ? Math.max(...a.ticks.map((v) => this.measure(tickText(v, a.unit)))) : 0);
    const pad = {
      l: Math.ceil(tickW(left) + font * 0.8),
      // Room for the right axis, or for half the last x label of a numeric axis.
      r: right ? Math.ceil(tickW(right) + font * 0.8)
        : Math.ceil(Math.max(font * 1.2, numeric ? this.measure(`${data.x.max}${data.x.unit || ''}`) / 2 + 4 : 0)),
      t: legendH + Math.round(font * 1.2),
      b: Math.round(font * 2.2),
    };
    const pw = W - pad.l - pad.r;
    const ph = H - pad.t - pad.b;
    const yOf = (a, v) => pad.t + ph * (1 - Math.min(v, a.top) / a.top);
    const band = pw / Math.max(n, 1);
    const xOf = numeric
      ? (i) => pad.l + (pw * (xs[i] - data.x.min)) / (data.x.max - data.x.min || 1)
      : (i) => pad.l + band * (i + 0.5);

    const out = [];
    // Grid and left ticks.
    const main = left || right;
    for (const v of main.ticks) {
      const y = yOf(main, v);
      out.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${f1(y)}" y2="${f1(y)}" stroke="${v === 0 ? BASE : GRID}"/>`);
    }
    if (left) for (const v of left.ticks) out.push(text(pad.l - font * 0.4, yOf(left, v) + font * 0.35, tickText(v, left.unit), 'end', ' class="axis"'));
    if (right) for (const v of right.ticks) out.push(text(W - pad.r + font * 0.4, yOf(right, v) + font * 0.35, tickText(v, right.unit), 'start', ' class="axis"'));

    // X labels, spaced so they never overlap.
    const xLabelY = H - pad.b + font * 1.4;
    if (numeric) {
      for (let v = data.x.min; v <= data.x.max; v += data.x.step || 20) {
        const x = pad.l + (pw * (v - data.x.min)) / (data.x.max - data.x.min || 1);
        out.push(text(x, xLabelY, `${v}${data.x.unit || ''}`, 'middle', ' class="axis"'));
      }
    } else if (n) {
      const widest = Math.max(...xs.map((s) => this.measure(s)));
      // Every `need`-th label fits; with `labelSteps` (e.g. 1, 2, 3, 4, 6, 12, 24 hours) the
      // step is the next round one, so labels fall on whole hours and days.
      const need = Math.max(1, Math.ceil((widest + font) / band));
      const steps = data.labelSteps || [];
      const last = steps[steps.length - 1];
      const every = !steps.length ? need : (steps.find((k) => k >= need) ?? Math.ceil(need / last) * last);
      xs.forEach((s, i) => {
        if (i % every === 0) out.push(text(xOf(i), xLabelY, s, 'middle', ' class="axis"'));
      });
    }

    // The 45° reference: where every customer would bring the same share.
    if (data.reference && left) {
      out.push(`<line x1="${pad.l}" y1="${f1(yOf(left, 0))}" x2="${W - pad.r}" y2="${f1(yOf(left, left.top))}" stroke="${BASE}" stroke-width="1.5" stroke-dasharray="5 4" class="reference"/>`);
    }

    // Bars: stacked in one column, or side by side.
    const bars = series.filter((s) => s.kind === 'bar');
    const gap = Math.min(band * 0.2, font);
    // Columns fill their band, but a few bars stay bar-shaped (at most 4 em, or 2.5 em each).
    const colW = Math.max(Math.min(band - gap, font * (data.stacked || bars.length < 2 ? 4 : 2.5 * bars.length)), 1);
    for (let i = 0; i < n; i++) {
      let base = 0;
      bars.forEach((s, k) => {
        const v = s.values[i];
        if (!v) return;
        const a = s.axis === 'right' ? right : left;
        const w = data.stacked ? colW : colW / bars.length;
        const x = xOf(i) - colW / 2 + (data.stacked ? 0 : k * w);
        const y0 = yOf(a, base);
        const y1 = yOf(a, base + v);
        if (data.stacked) base += v;
        out.push(`<rect x="${f1(x)}" y="${f1(y1)}" width="${f1(Math.max(w - (data.stacked ? 0 : 1), 1))}" height="${f1(Math.max(y0 - y1, 0.5))}" fill="${s.color}" data-series="${s.index}" class="bar"><title>${esc(`${xs[i]} · ${s.name}: ${s.format ? s.format(v) : v}`)}</title></rect>`);
      });
    }

    // Lines, broken where a value is missing; a dot on each point when there are few.
    for (const s of series.filter((x) => x.kind === 'line')) {
      const a = s.axis === 'right' ? right : left;
      let d = '';
      let pen = false;
      const dots = [];
      for (let i = 0; i < n; i++) {
        const v = s.values[i];
        if (v == null) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${f1(xOf(i))} ${f1(yOf(a, v))}`;
        pen = true;
        if (n <= 60) dots.push(`<circle cx="${f1(xOf(i))}" cy="${f1(yOf(a, v))}" r="${f1(font * 0.28)}" fill="${s.color}" data-series="${s.index}" class="point"><title>${esc(`${xs[i]} · ${s.name}: ${s.format ? s.format(v) : v}`)}</title></circle>`);
      }
      if (d) out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round" data-series="${s.index}" class="line"/>`);
      out.push(...dots);
    }

    // Legend.
    for (const { s, x, y } of legend) {
      const cy = y + lineH / 2 + 1;
      const mark = s.kind === 'bar'
        ? `<rect x="${f1(x)}" y="${f1(cy - font * 0.4)}" width="${f1(font * 0.8)}" height="${f1(font * 0.8)}" fill="${s.color}"/>`
        : `<line x1="${f1(x)}" x2="${f1(x + font * 1.1)}" y1="${f1(cy)}" y2="${f1(cy)}" stroke="${s.color}" stroke-width="2"${s.kind === 'reference' ? ' stroke-dasharray="5 4"' : ''}/>`;
      out.push(`<g class="legend-item">${mark}${text(x + font * 1.5, cy + font * 0.35, s.name)}</g>`);
    }

    const summary = series.map((s) => `${s.name}: ${xs.map((x, i) => (s.values[i] == null ? '' : `${x} ${s.format ? s.format(s.values[i]) : s.values[i]}`)).filter(Boolean).join(', ')}`).join('; ');
    return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img"
      aria-label="${esc(`${data.label || ''}: ${summary || '—'}`)}" font-family="${esc(this.font.family)}" font-size="${font}">${out.join('')}</svg>`;
  }

  /** The chart as a PNG download: its SVG drawn on a white canvas under the caption. */
  async toPng(filename) {
    const svg = this.querySelector('svg');
    if (!svg) return;
    const w = Number(svg.getAttribute('width'));
    const h = Number(svg.getAttribute('height'));
    const font = this.font.size;
    const head = Math.round(font * 2.6);
    const scale = 2;
    const img = new Image();
    const source = new XMLSerializer().serializeToString(svg);
    await new Promise((ok, fail) => {
      img.onload = ok;
      img.onerror = () => fail(new Error('the chart could not be drawn'));
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(source)}`;
    });
    const canvas = document.createElement('canvas');
    canvas.width = (w + font * 2) * scale;
    canvas.height = (h + head + font) * scale;
    const ctx = canvas.getContext('2d');
    ctx.scale(scale, scale);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, w + font * 2, h + head + font);
    ctx.fillStyle = '#1b2430';
    ctx.font = `600 ${Math.round(font * 1.25)}px ${this.font.family}`;
    ctx.fillText(this.data.label || '', font, font * 1.7);
    ctx.drawImage(img, font, head, w, h);
    const blob = await new Promise((ok) => canvas.toBlob(ok, 'image/png'));
    download(blob, filename);
  }
}

/** Saves `blob` as `filename` through a temporary link. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

customElements.define('hl-plot', HlPlot);
