// Batch effects, single-cell style: the same cell types measured in several labs, each lab
// with its own gene-wise scale and shift. BatchNorm whose statistics come from one lab at a
// time standardizes each lab's genes by that lab's own mean and spread, which removes the
// gene-wise shift (and most of the scale) — the per-domain statistics of AdaBN and
// domain-specific BN. Statistics over lab-mixed batches are one set for all labs and remove
// nothing that differs between them.
import * as nk from '../../index.js';
import { type Experiment, mean, pm, row } from '../experiment.js';
import { disposeModel } from '../kit.js';
import { knnLabelEntropy, pca, silhouette } from '../embedding.js';
import { barChart, scatterChart } from '../plot.js';

const { nn } = nk;
const GENES = 50,
  TYPES = 5,
  LABS = 3,
  EMBED = 16,
  MARKERS = 8;
const CONDITIONS = ['no BN', 'BN, lab-mixed batches', 'BN, per-lab batches'] as const;

interface Metrics {
  /** kNN (k = 15) lab entropy of the test embedding, 0–1 (1: labs perfectly mixed). */
  labEntropy: number;
  labSilhouette: number;
  typeSilhouette: number;
  /** Cell-type accuracy of the classifier head on the test cells. */
  accuracy: number;
}

interface Run {
  metrics: Metrics[];
  /** Per condition: the test embedding's first two principal components (x, y, lab, type). */
  pca: number[][][];
}

interface Cells {
  x: Float32Array;
  type: Int32Array;
  lab: Int32Array;
  n: number;
}

function poisson(g: nk.Generator, lambda: number): number {
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * g.normal()));
  const limit = Math.exp(-lambda);
  let k = 0;
  for (let p = g.uniform(); p > limit; p *= g.uniform()) k++;
  return k;
}

/**
 * `perLab` cells per lab, types in equal shares: log-expression per type (a baseline plus
 * MARKERS up-regulated genes) with cell-to-cell noise, Poisson counts, log1p, then the lab's
 * gene-wise scale exp(N(0, 0.4²)) and shift N(0, 0.8²) — the lab effects the world draws once.
 */
function simulate(seed: number, perLab: number, world: ReturnType<typeof drawWorld>): Cells {
  const g = new nk.Generator(seed);
  const n = perLab * LABS;
  const out: Cells = {
    x: new Float32Array(n * GENES),
    type: new Int32Array(n),
    lab: new Int32Array(n),
    n,
  };
  for (let i = 0; i < n; i++) {
    const lab = Math.floor(i / perLab),
      type = i % TYPES;
    out.lab[i] = lab;
    out.type[i] = type;
    for (let j = 0; j < GENES; j++) {
      const logMean = world.profile[type * GENES + j] + 0.3 * g.normal();
      const x = Math.log1p(poisson(g, Math.exp(logMean)));
      out.x[i * GENES + j] = world.scale[lab * GENES + j] * x + world.shift[lab * GENES + j];
    }
  }
  return out;
}

function drawWorld(seed: number) {
  const g = new nk.Generator(seed);
  const profile = new Float64Array(TYPES * GENES);
  const base = Array.from({ length: GENES }, () => 1 + 0.5 * g.normal());
  for (let t = 0; t < TYPES; t++) {
    for (let j = 0; j < GENES; j++) profile[t * GENES + j] = base[j];
    for (let m = 0; m < MARKERS; m++) profile[t * GENES + g.int(GENES)] += 1.5;
  }
  const scale = Float64Array.from({ length: LABS * GENES }, () => Math.exp(0.4 * g.normal()));
  const shift = Float64Array.from({ length: LABS * GENES }, () => 0.8 * g.normal());
  return { profile, scale, shift };
}

/** Encoder [BatchNorm1d(genes)?] → Linear 64 → [BatchNorm1d?] → ReLU → Linear 16; head ReLU → Linear. */
function model(bn: boolean) {
  const encoder = new nn.Sequential(
    ...(bn ? [new nn.BatchNorm1d(GENES)] : []),
    new nn.Linear(GENES, 64, { bias: !bn }),
    ...(bn ? [new nn.BatchNorm1d(64)] : []),
    new nn.ReLU(),
    new nn.Linear(64, EMBED),
  );
  return new nn.Sequential(encoder, new nn.ReLU(), new nn.Linear(EMBED, TYPES));
}

const rowsOf = (c: Cells, idx: number[]) => {
  const x = new Float32Array(idx.length * GENES);
  idx.forEach((i, k) => x.set(c.x.subarray(i * GENES, (i + 1) * GENES), k * GENES));
  return nk.tensor(x, [idx.length, GENES]);
};

const ofLab = (c: Cells, lab: number) =>
  Array.from({ length: c.n }, (_, i) => i).filter((i) => c.lab[i] === lab);

/** Adam on cross-entropy; each batch of 64 from one lab (cycling) or from all labs. */
function train(full: nk.nn.Module, cells: Cells, perLab: boolean, steps: number, seed: number) {
  const g = new nk.Generator(seed);
  const pools = perLab
    ? Array.from({ length: LABS }, (_, l) => ofLab(cells, l))
    : [Array.from({ length: cells.n }, (_, i) => i)];
  const opt = new nk.optim.Adam(full.parameters(), { lr: 3e-3 });
  full.train();
  for (let s = 0; s < steps; s++) {
    const pool = pools[s % pools.length];
    const idx = Array.from({ length: 64 }, () => pool[g.int(pool.length)]);
    nk.tidy(() => {
      const loss = nk.crossEntropy(
        full.call(rowsOf(cells, idx)),
        Int32Array.from(idx, (i) => cells.type[i]),
      );
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  }
}

/** The rows of `idx` through a module in eval mode, as float64 [n × width]. */
function embed(m: nk.nn.Module, cells: Cells, idx: number[]): Float64Array {
  m.eval();
  return nk.noGrad(() => nk.tidy(() => Float64Array.from(m.call(rowsOf(cells, idx)).data)));
}

const budget = (mode: string) =>
  mode === 'full'
    ? { train: 1000, test: 200, steps: 1500 }
    : mode === 'quick'
      ? { train: 600, test: 150, steps: 600 }
      : { train: 60, test: 20, steps: 30 };

export const batchEffects: Experiment<Run> = {
  name: 'batch-effects',
  claim:
    'BatchNorm with statistics taken per lab (per-lab batches, and per-lab statistics when ' +
    'embedding) removes the labs’ gene-wise scale and shift: the embedding mixes the labs ' +
    'while keeping cell types apart; BatchNorm over lab-mixed batches, or no BatchNorm, ' +
    'leaves the labs apart.',
  source:
    'Li et al. 2016 (AdaBN); Chang et al. 2019 (domain-specific BN); Tran et al. 2020 and ' +
    'Büttner et al. 2019 (batch-effect benchmarks: silhouette, kNN lab mixing)',
  setup: (mode) => {
    const b = budget(mode);
    return (
      `Synthetic single-cell data: ${GENES} genes, ${TYPES} cell types (a baseline profile plus ` +
      `${MARKERS} marker genes up by 1.5 in log expression, cell noise sd 0.3, Poisson counts, ` +
      `log1p), ${LABS} labs each with a gene-wise scale exp(N(0, 0.4²)) and shift N(0, 0.8²); ` +
      `${b.train} training and ${b.test} test cells per lab. Encoder [BatchNorm1d(${GENES})] → ` +
      `Linear 64 → [BatchNorm1d] → ReLU → Linear ${EMBED} (the embedding), head ReLU → Linear ` +
      `${TYPES}, trained on cell type (Adam lr 3e-3, batch 64, ${b.steps} steps). Conditions: ` +
      'no BN; BN over batches drawn from all labs (embedded with its running statistics); BN ' +
      'over batches drawn from one lab at a time, each lab embedded after adaptBatchNorm on ' +
      'that lab’s training cells. On the test cells: kNN lab entropy (k = 15), silhouette by ' +
      'lab and by type, type accuracy; PCA of the embedding.'
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, per-lab BN (1) has a kNN lab entropy at least 0.1 ' +
    'above both other conditions, (2) has a lab silhouette below both, and (3) has a type ' +
    'silhouette no more than 0.05 below the better of the two. Mixed if some of these hold.',
  quickSeconds: 1,
  measure(ctx) {
    const b = budget(ctx.mode);
    const world = drawWorld(ctx.seed + 101);
    const trainCells = simulate(ctx.seed + 1, b.train, world),
      testCells = simulate(ctx.seed + 2, b.test, world);
    const out: Run = { metrics: [], pca: [] };
    CONDITIONS.forEach((_, k) => {
      nk.manualSeed(ctx.seed);
      const full = model(k > 0);
      train(full, trainCells, k === 2, b.steps, ctx.seed + 3);
      const idx: number[] = [],
        parts: Float64Array[] = [],
        logits: Float64Array[] = [];
      for (let lab = 0; lab < LABS; lab++) {
        const rows = ofLab(testCells, lab);
        let m = full;
        if (k === 2) {
          // This lab's own statistics, estimated on its (unlabelled) training cells.
          m = nn.cloneModule(full);
          const labTrain = ofLab(trainCells, lab);
          // Batches of at most 64, equal in size (the cumulative average weighs each alike).
          const size = Math.ceil(labTrain.length / Math.ceil(labTrain.length / 64));
          const batches = [];
          for (let s = 0; s < labTrain.length; s += size)
            batches.push(rowsOf(trainCells, labTrain.slice(s, s + size)));
          nk.adaptBatchNorm(m, batches);
          nk.dispose(batches);
        }
        parts.push(embed((m as nk.nn.Sequential).layers[0], testCells, rows));
        logits.push(embed(m, testCells, rows));
        idx.push(...rows);
        if (m !== full) disposeModel(m);
      }
      const n = idx.length;
      const z = new Float64Array(n * EMBED);
      let offset = 0;
      for (const p of parts) z.set(p, (offset += p.length) - p.length);
      const labs = idx.map((i) => testCells.lab[i]),
        types = idx.map((i) => testCells.type[i]);
      let correct = 0;
      const all = new Float64Array(n * TYPES);
      offset = 0;
      for (const l of logits) all.set(l, (offset += l.length) - l.length);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let t = 1; t < TYPES; t++) if (all[i * TYPES + t] > all[i * TYPES + best]) best = t;
        if (best === types[i]) correct++;
      }
      out.metrics.push({
        labEntropy: knnLabelEntropy(z, n, EMBED, labs, 15),
        labSilhouette: silhouette(z, n, EMBED, labs),
        typeSilhouette: silhouette(z, n, EMBED, types),
        accuracy: correct / n,
      });
      const p = pca(z, n, EMBED, 2).points;
      out.pca.push(
        Array.from({ length: n }, (_, i) => [
          +p[2 * i].toFixed(3),
          +p[2 * i + 1].toFixed(3),
          labs[i],
          types[i],
        ]),
      );
      disposeModel(full);
      ctx.progress((k + 1) / CONDITIONS.length);
    });
    return out;
  },
  judge(runs) {
    const m = (k: number, f: (x: Metrics) => number) => mean(runs.map((r) => f(r.metrics[k])));
    const ent = CONDITIONS.map((_, k) => m(k, (x) => x.labEntropy));
    const labSil = CONDITIONS.map((_, k) => m(k, (x) => x.labSilhouette));
    const typeSil = CONDITIONS.map((_, k) => m(k, (x) => x.typeSilhouette));
    const held = [
      ent[2] >= Math.max(ent[0], ent[1]) + 0.1,
      labSil[2] < Math.min(labSil[0], labSil[1]),
      typeSil[2] >= Math.max(typeSil[0], typeSil[1]) - 0.05,
    ].filter(Boolean).length;
    const p = (k: number, f: (x: Metrics) => number) => pm(runs.map((r) => f(r.metrics[k])));
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        CONDITIONS.map(
          (c, k) =>
            `${c}: lab entropy ${p(k, (x) => x.labEntropy)}, lab silhouette ${p(k, (x) => x.labSilhouette)}, ` +
            `type silhouette ${p(k, (x) => x.typeSilhouette)}.`,
        ).join(' ') + ` ${held} of the rule's 3 conditions hold.`,
      summary: CONDITIONS.flatMap((c, k) => [
        row(
          `${c}: kNN lab entropy`,
          runs.map((r) => r.metrics[k].labEntropy),
        ),
        row(
          `${c}: silhouette by lab`,
          runs.map((r) => r.metrics[k].labSilhouette),
        ),
        row(
          `${c}: silhouette by type`,
          runs.map((r) => r.metrics[k].typeSilhouette),
        ),
        row(
          `${c}: type accuracy`,
          runs.map((r) => 100 * r.metrics[k].accuracy),
          '%',
        ),
      ]),
    };
  },
  figures(runs) {
    const first = runs[0];
    const points = (by: 2 | 3) =>
      // The first 70 test cells of each lab (all types in turn): enough to see the clouds, a small SVG.
      first.pca.flatMap((pts, k) =>
        pts
          .filter(([, , lab], i) => i - pts.findIndex((p) => p[2] === lab) < 70)
          .map(([x, y, lab, type]) => ({
            x,
            y,
            color: by === 2 ? `lab ${lab + 1}` : `type ${type + 1}`,
            panel: CONDITIONS[k],
          })),
      );
    return [
      barChart({
        title: 'Lab mixing (kNN lab entropy, 1 = mixed) and separation (silhouette)',
        rows: CONDITIONS.flatMap((c, k) => [
          {
            category: c,
            y: mean(runs.map((r) => r.metrics[k].labEntropy)),
            series: 'kNN lab entropy',
          },
          {
            category: c,
            y: mean(runs.map((r) => r.metrics[k].labSilhouette)),
            series: 'silhouette by lab',
          },
          {
            category: c,
            y: mean(runs.map((r) => r.metrics[k].typeSilhouette)),
            series: 'silhouette by type',
          },
        ]),
        y: 'value (mean over seeds)',
        category: 'condition',
      }),
      scatterChart({
        title: 'Test embedding, PCA, coloured by lab (first seed)',
        rows: points(2),
        x: 'PC 1',
        y: 'PC 2',
        color: 'lab',
      }),
      scatterChart({
        title: 'Test embedding, PCA, coloured by cell type (first seed)',
        rows: points(3),
        x: 'PC 1',
        y: 'PC 2',
        color: 'type',
      }),
    ];
  },
};
