/**
 * A small canvas line chart, shipped with the app (no third-party script): time on x in local time, one or more
 * series on y, gaps where a value is null or samples are missing, crisp on high-DPI screens, redrawn on resize,
 * and a hover read-out. Colours come from the page's CSS custom properties so the chart follows the theme.
 */
/* global ResizeObserver, getComputedStyle */
import { formatCompact, formatDateTime, formatTick, niceTicks, timeTicks } from './format.js';

// The top band holds the axes' units: the value axis's above its ticks, the time axis's at the right.
const PAD = { top: 20, right: 12, bottom: 22, left: 46 };
export const TIME_AXIS_UNIT = 'local time';

export class LineChart {
  /**
   * @param {HTMLElement} container  the chart fills its width; height comes from `height`
   * @param {object} opts
   * @param {{label: string, color: string}[]} opts.series
   * @param {(v: number) => string} [opts.format]   value formatting for the read-out
   * @param {string} [opts.unit]   the value axis's unit (%, °C, W, B/s), drawn above its ticks
   * @param {number} [opts.yMin] @param {number} [opts.yMax]   fixed bounds (e.g. 0..100 for percentages)
   * @param {number} [opts.height]
   */
  constructor(container, opts) {
    this.container = container;
    this.opts = { height: 160, format: formatCompact, ...opts };
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'chart-canvas';
    this.canvas.setAttribute('role', 'img');
    this.tip = document.createElement('div');
    this.tip.className = 'chart-tip';
    this.tip.hidden = true;
    container.append(this.canvas, this.tip);
    this.data = { series: [], from: 0, to: 0 };
    this.hoverX = null;
    this.canvas.addEventListener('pointermove', (e) => this.onHover(e));
    this.canvas.addEventListener('pointerleave', () => this.onHover(null));
    this.resizer = typeof ResizeObserver === 'function' ? new ResizeObserver(() => this.draw()) : null;
    this.resizer?.observe(container);
  }

  /**
   * One {xs, ys} per series (each metric comes with its own timestamps); `from`/`to` is the period shown.
   * @param {{series: {xs: number[], ys: (number|null)[]}[], from: number, to: number}} data
   */
  setData(data) {
    this.data = data;
    const names = this.opts.series.map((s, i) => `${s.label} (${data.series[i]?.xs.length ?? 0} points)`).join(', ');
    this.canvas.setAttribute('aria-label', `${names}; values in ${this.opts.unit ?? 'units'}, time in ${TIME_AXIS_UNIT}`);
    this.draw();
  }

  destroy() {
    this.resizer?.disconnect();
    this.canvas.remove();
    this.tip.remove();
  }

  layout() {
    const width = Math.max(120, this.container.clientWidth);
    const height = this.opts.height;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
    }
    return { width, height, dpr };
  }

  bounds() {
    let lo = Infinity;
    let hi = -Infinity;
    for (const { ys } of this.data.series) {
      for (const v of ys) {
        if (v === null) continue;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (lo === Infinity) {
      lo = 0;
      hi = 1;
    }
    if (this.opts.yMin !== undefined) lo = Math.min(lo, this.opts.yMin);
    if (this.opts.yMax !== undefined) hi = Math.max(hi, this.opts.yMax);
    const ticks = niceTicks(lo, hi, 4);
    return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks };
  }

  draw() {
    if (!this.canvas.isConnected) return;
    const { width, height, dpr } = this.layout();
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const css = getComputedStyle(this.container);
    const muted = css.getPropertyValue('--muted').trim() || '#8b949e';
    const grid = css.getPropertyValue('--grid').trim() || '#21262d';
    const font = css.getPropertyValue('--font-mono').trim() || 'monospace';
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = `11px ${font}`;

    const { series, from, to } = this.data;
    const plotW = width - PAD.left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    const { lo, hi, ticks } = this.bounds();
    const x = (t) => PAD.left + ((t - from) / Math.max(1, to - from)) * plotW;
    const y = (v) => PAD.top + plotH - ((v - lo) / Math.max(1e-9, hi - lo)) * plotH;
    this.scale = { x, from, to, plotW };

    ctx.strokeStyle = grid;
    ctx.fillStyle = muted;
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of ticks) {
      const py = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD.left, py);
      ctx.lineTo(width - PAD.right, py);
      ctx.stroke();
      ctx.fillText(formatCompact(v), PAD.left - 6, py);
    }
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    if (this.opts.unit) ctx.fillText(this.opts.unit, 4, 3);
    ctx.textAlign = 'right';
    ctx.fillText(TIME_AXIS_UNIT, width - PAD.right, 3);
    ctx.textAlign = 'center';
    const tickCount = Math.max(3, Math.floor(plotW / 80));
    for (const t of timeTicks(from, to, tickCount)) {
      const px = Math.round(x(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(px, PAD.top);
      ctx.lineTo(px, PAD.top + plotH);
      ctx.stroke();
      ctx.fillText(formatTick(t, to - from), px, PAD.top + plotH + 5);
    }

    if (!series.some((s) => s.ys.some((v) => v !== null))) {
      ctx.textBaseline = 'middle';
      ctx.fillText('no data for this period', PAD.left + plotW / 2, PAD.top + plotH / 2);
      return;
    }
    ctx.lineWidth = 1.5;
    ctx.lineJoin = 'round';
    this.opts.series.forEach((s, si) => {
      const { xs, ys: col } = series[si] ?? { xs: [], ys: [] };
      // A missing stretch of samples is a gap, not a straight line: break where the step exceeds 3x the median.
      const steps = xs.slice(1).map((t, i) => t - xs[i]).sort((a, b) => a - b);
      const gapMs = steps.length ? Math.max(steps[Math.floor(steps.length / 2)] * 3, 1) : Infinity;
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      let pen = false;
      let lonely = null;
      for (let i = 0; i < xs.length; i += 1) {
        const v = col[i];
        if (v === null || v === undefined || (i > 0 && xs[i] - xs[i - 1] > gapMs)) {
          if (lonely) ctx.fillRect(lonely[0] - 1, lonely[1] - 1, 2, 2);
          pen = false;
          lonely = null;
          if (v === null || v === undefined) continue;
        }
        const px = x(xs[i]);
        const py = y(v);
        if (pen) {
          ctx.lineTo(px, py);
          lonely = null;
        } else {
          ctx.moveTo(px, py);
          lonely = [px, py];
        }
        pen = true;
      }
      ctx.stroke();
      if (lonely) ctx.fillRect(lonely[0] - 1, lonely[1] - 1, 2, 2);
    });

    if (this.hoverX !== null) {
      ctx.strokeStyle = muted;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(Math.round(this.hoverX) + 0.5, PAD.top);
      ctx.lineTo(Math.round(this.hoverX) + 0.5, PAD.top + plotH);
      ctx.stroke();
    }
  }

  onHover(e) {
    const xs = this.data.series[0]?.xs ?? [];
    if (!e || !this.scale || xs.length === 0) {
      this.hoverX = null;
      this.tip.hidden = true;
      this.draw();
      return;
    }
    const rect = this.canvas.getBoundingClientRect();
    const px = e.clientX - rect.left;
    const { from, to, plotW } = this.scale;
    const t = from + ((px - PAD.left) / plotW) * (to - from);
    const nearest = (arr) => {
      let best = 0;
      for (let i = 1; i < arr.length; i += 1) if (Math.abs(arr[i] - t) < Math.abs(arr[best] - t)) best = i;
      return best;
    };
    const at = xs[nearest(xs)];
    this.hoverX = this.scale.x(at);
    const values = this.opts.series.map((s, si) => {
      const ser = this.data.series[si];
      const v = ser && ser.xs.length ? ser.ys[nearest(ser.xs)] : null;
      return `${s.label} ${v === null || v === undefined ? '—' : this.opts.format(v)}`;
    });
    this.tip.textContent = `${formatDateTime(at)}  ${values.join('  ')}`;
    this.tip.hidden = false;
    this.draw();
  }
}
