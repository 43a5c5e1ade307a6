// uPlot charts over the last N blocks, x = height.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h, si } from './dom';

export interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  color: string;
  bars?: boolean;
  fmt?: (v: number) => string;
}

export class Chart {
  el: HTMLElement;
  private plot: uPlot | null = null;
  private ro: ResizeObserver | null = null;
  private box: HTMLElement;
  private last: HTMLElement;

  constructor(private spec: ChartSpec) {
    this.box = h('div', { class: 'chart-box' });
    this.last = h('span', { class: 'chart-last' });
    this.el = h('div', { class: 'chart card', id: spec.id }, h('div', { class: 'chart-head' }, h('h3', null, spec.title), this.last), this.box);
  }

  private width(): number {
    return Math.max(200, Math.floor(this.box.clientWidth || this.el.clientWidth - 24 || 300));
  }

  set(xs: number[], ys: Array<number | null>): void {
    const fmt = this.spec.fmt ?? ((v: number) => si(v, this.spec.unit));
    const lastVal = [...ys].reverse().find((v) => v !== null && v !== undefined);
    this.last.textContent = lastVal === undefined || lastVal === null ? '' : `latest ${fmt(lastVal)}`;
    const data: uPlot.AlignedData = [xs, ys];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    if (!this.el.isConnected) return;
    const opts: uPlot.Options = {
      width: this.width(),
      height: 160,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: false }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' }, values: (_u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : '')), size: 30 },
        { stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' }, values: (_u, vals) => vals.map((v) => fmt(v)), size: 64 },
      ],
      series: [
        { label: 'height' },
        {
          label: this.spec.title,
          stroke: this.spec.color,
          width: 1.5,
          fill: this.spec.bars ? this.spec.color + '99' : this.spec.color + '22',
          paths: this.spec.bars ? uPlot.paths.bars!({ size: [0.8, 40] }) : undefined,
          points: { show: false },
          spanGaps: false,
          value: (_u, v) => (v === null ? '—' : fmt(v)),
        },
      ],
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            if (i === null || i === undefined) {
              this.last.textContent = lastVal === undefined || lastVal === null ? '' : `latest ${fmt(lastVal)}`;
              return;
            }
            const y = u.data[1][i];
            this.last.textContent = `#${u.data[0][i]}: ${y === null || y === undefined ? '—' : fmt(y)}`;
          },
        ],
      },
    };
    this.plot = new uPlot(opts, data, this.box);
    this.ro = new ResizeObserver(() => {
      if (this.plot) {
        const w = this.width();
        if (Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height: 160 });
      }
    });
    this.ro.observe(this.box);
  }

  destroy(): void {
    this.ro?.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
