// Optimizer base: parameter groups with their own hyperparameters, per-parameter state
// tensors (kept out of tidy scopes), and a state dict for checkpoints.
import { keep } from '../memory/scope.js';
import { zeros } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export interface GroupBase {
  lr: number;
  weightDecay: number;
}

export type ParamGroup<H> = H & { params: Tensor[] };
export type ParamsArg<H> = Tensor[] | (Partial<H> & { params: Tensor[] })[];

export interface OptimizerState {
  paramGroups: Record<string, unknown>[];
  state: Record<
    string,
    { step: number; buffers: Record<string, { shape: number[]; data: ArrayLike<number> }> }
  >;
}

interface ParamState {
  step: number;
  buffers: Record<string, Tensor>;
}

export abstract class Optimizer<H extends GroupBase> {
  readonly paramGroups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(params: ParamsArg<H>, defaults: H) {
    const name = this.constructor.name;
    const groups =
      params.length > 0 && params[0] instanceof Tensor
        ? [{ params: params as Tensor[] }]
        : (params as (Partial<H> & { params: Tensor[] })[]);
    if (groups.length === 0 || groups.every((g) => g.params.length === 0)) {
      throw new Error(`${name}: got an empty parameter list`);
    }
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, i) => {
      for (const p of g.params) {
        if (!(p instanceof Tensor))
          throw new Error(`${name}: group ${i} holds something that is not a Tensor`);
        if (seen.has(p))
          throw new Error(`${name}: a parameter ${fmt(p.shape)} appears in more than one group`);
        seen.add(p);
      }
      const group = { ...defaults, ...g, params: [...g.params] } as ParamGroup<H>;
      if (!(group.lr >= 0)) throw new Error(`${name}: expected lr >= 0, got ${group.lr}`);
      if (!(group.weightDecay >= 0))
        throw new Error(`${name}: expected weightDecay >= 0, got ${group.weightDecay}`);
      return group;
    });
  }

  /** Frees the per-parameter state (momentum, moments); the next step starts it afresh. */
  dispose(): void {
    for (const s of this.state.values()) for (const b of Object.values(s.buffers)) b.dispose();
    this.state.clear();
  }

  /** Clears every parameter's gradient (PyTorch's set_to_none=True). */
  zeroGrad(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        let s = this.state.get(p);
        if (s === undefined) {
          s = { step: 0, buffers: {} };
          this.state.set(p, s);
        }
        s.step++;
        this.update(p, p.grad, group, s.step, (name) => {
          const existing = s!.buffers[name];
          if (existing) return [existing, false];
          const b = keep(zeros(p.shape, { dtype: p.dtype }));
          s!.buffers[name] = b;
          return [b, true];
        });
      }
    }
  }

  /** buffer(name) returns the state tensor and whether it was just created. */
  protected abstract update(
    p: Tensor,
    grad: Tensor,
    group: ParamGroup<H>,
    step: number,
    buffer: (name: string) => [Tensor, boolean],
  ): void;

  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  stateDict(): OptimizerState {
    const params = this.allParams();
    const state: OptimizerState['state'] = {};
    params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s === undefined) return;
      const buffers: Record<string, { shape: number[]; data: ArrayLike<number> }> = {};
      for (const [k, t] of Object.entries(s.buffers))
        buffers[k] = { shape: [...t.shape], data: t.toArray() };
      state[i] = { step: s.step, buffers };
    });
    const paramGroups = this.paramGroups.map(({ params: ps, ...h }) => ({
      ...h,
      params: ps.map((p) => params.indexOf(p)),
    }));
    return { paramGroups, state };
  }

  /** Throws, naming what is wrong, unless loadStateDict(sd) would succeed; changes nothing. */
  checkStateDict(sd: OptimizerState): void {
    const name = this.constructor.name;
    const params = this.allParams();
    if (
      !sd ||
      !Array.isArray(sd.paramGroups) ||
      sd.paramGroups.length !== this.paramGroups.length
    ) {
      throw new Error(
        `${name}.loadStateDict: expected ${this.paramGroups.length} parameter groups, got ${sd?.paramGroups?.length}`,
      );
    }
    sd.paramGroups.forEach((g, i) => {
      const n = (g.params as number[] | undefined)?.length;
      if (n !== this.paramGroups[i].params.length) {
        throw new Error(
          `${name}.loadStateDict: group ${i} has ${this.paramGroups[i].params.length} parameters, the state has ${n}`,
        );
      }
    });
    for (const [i, s] of Object.entries(sd.state)) {
      const p = params[Number(i)];
      if (p === undefined)
        throw new Error(`${name}.loadStateDict: state for parameter ${i}, which does not exist`);
      for (const [k, b] of Object.entries(s.buffers)) {
        if (fmt(b.shape) !== fmt(p.shape) || b.data.length !== p.size) {
          throw new Error(
            `${name}.loadStateDict: buffer ${k} of parameter ${i} is ${fmt(b.shape)}, expected ${fmt(p.shape)}`,
          );
        }
      }
    }
  }

  /** Restores hyperparameters and state; checked whole before anything changes. */
  loadStateDict(sd: OptimizerState): void {
    this.checkStateDict(sd);
    const params = this.allParams();
    sd.paramGroups.forEach((g, i) => {
      const { params: _ignored, ...h } = g;
      Object.assign(this.paramGroups[i], h);
    });
    this.dispose();
    for (const [i, s] of Object.entries(sd.state)) {
      const p = params[Number(i)];
      const buffers: Record<string, Tensor> = {};
      for (const [k, b] of Object.entries(s.buffers)) {
        const t = keep(zeros(b.shape, { dtype: p.dtype }));
        t.data.set(b.data);
        buffers[k] = t;
      }
      this.state.set(p, { step: s.step, buffers });
    }
  }
}
