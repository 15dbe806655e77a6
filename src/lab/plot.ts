// Figures: Vega-Lite specifications compiled by vega-lite and rendered to SVG by vega in Node
// (no canvas, no native code). The same specs render in a browser page as they are.
import * as vega from 'vega';
import { compile } from 'vega-lite';
import pngjs from 'pngjs';
import type { VegaLiteSpec } from './experiment.js';

const { PNG } = pngjs;
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Renders one figure, or several stacked top to bottom, to an SVG document. */
export async function renderSvg(figures: VegaLiteSpec[]): Promise<string> {
  if (figures.length === 0) throw new Error('renderSvg: no figures');
  // No ARIA labels: they repeat every datum's fields on every mark, and made a 16,000-mark
  // figure five times larger.
  const config = { aria: false };
  const spec =
    figures.length === 1
      ? { $schema: SCHEMA, config, ...figures[0] }
      : {
          $schema: SCHEMA,
          config,
          vconcat: figures,
          resolve: { scale: { color: 'independent' } },
        };
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

/**
 * Bars of a value per category, grouped by series. `yDomain` cuts the axis to a range (the
 * bars then start at its bottom, and the axis title says so) where differences of a few
 * points would not show on a scale from 0.
 */
export function barChart(o: {
  title: string;
  rows: { category: string; y: number; series: string }[];
  y: string;
  category: string;
  yDomain?: [number, number];
}): VegaLiteSpec {
  const y = o.yDomain
    ? {
        title: `${o.y}, axis from ${o.yDomain[0]}`,
        scale: { domain: o.yDomain, zero: false, clamp: true },
      }
    : { title: o.y };
  return {
    title: o.title,
    width: 420,
    height: 220,
    data: { values: o.rows },
    mark: { type: 'bar', clip: o.yDomain !== undefined },
    encoding: {
      x: { field: 'category', type: 'nominal', title: o.category, sort: null },
      xOffset: { field: 'series' },
      y: { field: 'y', type: 'quantitative', ...y },
      color: { field: 'series', type: 'nominal', title: '' },
    },
  };
}

/** Points coloured by a label, one panel per `panel` value side by side (a shared scale per panel). */
export function scatterChart(o: {
  title: string;
  rows: { x: number; y: number; color: string; panel: string }[];
  x: string;
  y: string;
  color: string;
  /** One fixed domain for both axes of every panel (default: each panel fits its points). */
  domain?: [number, number];
}): VegaLiteSpec {
  const scale = o.domain ? { domain: o.domain } : { zero: false };
  return {
    title: o.title,
    data: { values: o.rows },
    facet: { column: { field: 'panel', type: 'nominal', title: null, sort: inOrder(o.rows) } },
    resolve: o.domain ? {} : { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: 180,
      height: 180,
      mark: { type: 'circle', size: 12, opacity: 0.6, clip: o.domain !== undefined },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: o.x, scale },
        y: { field: 'y', type: 'quantitative', title: o.y, scale },
        color: { field: 'color', type: 'nominal', title: o.color },
      },
    },
  };
}

/** A grey-scale image (values in [0, 1], row-major size × size) as a PNG data URL, white on black inverted to black on white. */
function pngDataUrl(img: Float32Array, size: number): string {
  const png = new PNG({ width: size, height: size });
  for (let i = 0; i < size * size; i++) {
    const v = 255 - Math.round(255 * Math.min(1, Math.max(0, img[i])));
    png.data.set([v, v, v, 255], 4 * i);
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

/**
 * Grey-scale images (values in [0, 1], `size`×`size` each) in a row per panel, each embedded
 * as a small PNG (an image mark: a figure of 32 samples stays tens of kilobytes, where a mark
 * per pixel took megabytes).
 */
export function imageGrid(o: {
  title: string;
  panels: { panel: string; images: Float32Array[] }[];
  size: number;
}): VegaLiteSpec {
  const px = 2 * o.size; // drawn at twice the pixel size
  const n = Math.max(...o.panels.map((p) => p.images.length));
  return {
    title: o.title,
    data: {
      values: o.panels.flatMap(({ panel, images }) =>
        images.map((img, k) => ({ k, panel, url: pngDataUrl(img, o.size) })),
      ),
    },
    facet: {
      row: { field: 'panel', type: 'nominal', title: null, sort: o.panels.map((p) => p.panel) },
    },
    spec: {
      width: n * (px + 4),
      height: px + 4,
      mark: { type: 'image', width: px, height: px, align: 'left', baseline: 'top' },
      encoding: {
        x: {
          field: 'k',
          type: 'quantitative',
          axis: null,
          scale: { domain: [0, n], range: [0, n * (px + 4)] },
        },
        y: { datum: 0, type: 'quantitative', axis: null, scale: { domain: [0, 1], range: [0, 1] } },
        url: { field: 'url', type: 'nominal' },
      },
    },
  };
}

/** The panels in the order they first appear (a facet otherwise sorts them by name). */
const inOrder = (rows: { panel: string }[]) => [...new Set(rows.map((r) => r.panel))];
