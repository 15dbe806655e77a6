// Figures: Vega-Lite specifications compiled by vega-lite and rendered to SVG by vega in Node
// (no canvas, no native code). The same specs render in a browser page as they are.
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { VegaLiteSpec } from './experiment.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Renders one figure, or several stacked top to bottom, to an SVG document. */
export async function renderSvg(figures: VegaLiteSpec[]): Promise<string> {
  if (figures.length === 0) throw new Error('renderSvg: no figures');
  const spec =
    figures.length === 1
      ? { $schema: SCHEMA, ...figures[0] }
      : { $schema: SCHEMA, vconcat: figures, resolve: { scale: { color: 'independent' } } };
  const view = new vega.View(vega.parse(compile(spec as any).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * A line chart of y against x, one line per series, with a band of ± one sd when rows carry
 * `sd` (the seeds' spread). Axis titles carry their units.
 */
export function lineChart(o: {
  title: string;
  rows: { x: number; y: number; sd?: number; series: string }[];
  x: string;
  y: string;
  logX?: boolean;
  logY?: boolean;
  series?: string;
}): VegaLiteSpec {
  const x = {
    field: 'x',
    type: 'quantitative',
    title: o.x,
    scale: o.logX ? { type: 'log' } : { zero: false },
  };
  const y = { field: 'y', type: 'quantitative', title: o.y, scale: o.logY ? { type: 'log' } : {} };
  const color = { field: 'series', type: 'nominal', title: o.series ?? '' };
  const layers: VegaLiteSpec[] = [
    { mark: { type: 'line', point: true }, encoding: { x, y, color } },
  ];
  if (o.rows.some((r) => (r.sd ?? 0) > 0)) {
    layers.unshift({
      transform: [
        { calculate: 'datum.y - datum.sd', as: 'lo' },
        { calculate: 'datum.y + datum.sd', as: 'hi' },
      ],
      mark: { type: 'area', opacity: 0.2 },
      encoding: {
        x,
        y: { field: 'lo', type: 'quantitative', title: o.y },
        y2: { field: 'hi' },
        color,
      },
    });
  }
  return {
    title: o.title,
    width: 420,
    height: 240,
    data: { values: o.rows.map((r) => ({ ...r, sd: r.sd ?? 0 })) },
    layer: layers,
  };
}

/** Bars of a value per category, grouped by series. */
export function barChart(o: {
  title: string;
  rows: { category: string; y: number; series: string }[];
  y: string;
  category: string;
}): VegaLiteSpec {
  return {
    title: o.title,
    width: 420,
    height: 220,
    data: { values: o.rows },
    mark: 'bar',
    encoding: {
      x: { field: 'category', type: 'nominal', title: o.category, sort: null },
      xOffset: { field: 'series' },
      y: { field: 'y', type: 'quantitative', title: o.y },
      color: { field: 'series', type: 'nominal', title: '' },
    },
  };
}
