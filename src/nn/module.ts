// Module: parameters (trainable) and buffers (running statistics) kept apart, children
// registered by name, train()/eval() recursing, and a state dict with dotted keys.
import { keep } from '../memory/scope.js';
import { fmt } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { RemovableHandle } from '../autograd/hooks.js';
import { type BackwardHook, type ForwardHook, type ForwardPreHook, ModuleHooks } from './hooks.js';

export type StateDict = Record<string, Tensor>;

/** A fused forward over a module and the span − 1 modules after it (Module.fuseWith). */
export interface Fused {
  forward: (x: Tensor) => Tensor;
  span: number;
}

/**
 * Whether m is a cls that runs cls's own forward: fusion computes what that forward does, so
 * a subclass that overrides it (and may compute something else) is never fused.
 */
export function runsForwardOf<C extends abstract new (...args: any[]) => Module>(
  m: Module | undefined,
  cls: C,
): m is InstanceType<C> {
  return m instanceof cls && m.forward === cls.prototype.forward;
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly bufs = new Map<string, Tensor | null>();
  private readonly children_ = new Map<string, Module>();
  private readonly hooks = new ModuleHooks();
  /** Where this module was last registered as a child (for messages that name its path). */
  private parentLink: { parent: Module; name: string } | null = null;

  abstract forward(x: Tensor, ...rest: any[]): Tensor;

  /** Runs forward, and the hooks around it (PyTorch's module(x)). */
  call(x: Tensor, ...rest: any[]): Tensor {
    if (!this.hooks.any) return this.forward(x, ...rest);
    return this.hooks.call(this, [x, ...rest], (...a) => this.forward(...(a as [Tensor])));
  }

  /** True when hooks are registered on this module (Sequential then runs it unfused). */
  get hasHooks(): boolean {
    return this.hooks.any;
  }

  /** fn(module, inputs) runs before forward and may return replacement inputs. */
  registerForwardPreHook(fn: ForwardPreHook): RemovableHandle {
    return this.hooks.add(this.hooks.pre, fn);
  }

  /** fn(module, inputs, output) runs after forward and may return a replacement output. */
  registerForwardHook(fn: ForwardHook): RemovableHandle {
    return this.hooks.add(this.hooks.forward, fn);
  }

  /**
   * fn(module, gradInput, gradOutput) runs during backward() once the gradients with respect
   * to this module's inputs (those through this module; null for an input without grad) and
   * its output are known. Calls made under noGrad() are not watched.
   */
  registerFullBackwardHook(fn: BackwardHook): RemovableHandle {
    return this.hooks.add(this.hooks.backward, fn);
  }

  /**
   * A forward that computes this module and the first span − 1 of `following` (the modules
   * after it, none hooked) in one fused pass, or null. Containers (Sequential) ask each
   * child; the result must equal running them one after the other.
   */
  fuseWith(_following: Module[]): Fused | null {
    return null;
  }

  /**
   * Child pairs [a, b] where b reads a's output directly and nothing else reads it (what
   * foldBatchNorm folds). Containers that know their data flow say; others have none.
   */
  adjacentLayers(): [Module, Module][] {
    return [];
  }

  /** A name for errors and summaries: the class name and its key arguments. */
  describe(): string {
    return this.constructor.name;
  }

  protected registerParameter(name: string, t: Tensor | null): Tensor | null {
    if (t !== null) {
      t.requiresGrad = true;
      keep(t);
    }
    this.params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor | null): Tensor | null {
    if (t !== null) keep(t);
    this.bufs.set(name, t);
    return t;
  }

  /**
   * Replaces a parameter or buffer by name, or removes it (undefined): for
   * reparametrizations such as spectralNorm, which turn `weight` into `weight_orig`.
   */
  setParameter(name: string, t: Tensor | undefined): void {
    if (t === undefined) this.params.delete(name);
    else this.registerParameter(name, t);
  }

  setBuffer(name: string, t: Tensor | undefined): void {
    if (t === undefined) this.bufs.delete(name);
    else this.registerBuffer(name, t);
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children_.set(name, m);
    m.parentLink = { parent: this, name };
    return m;
  }

  /** The dotted path from the outermost module holding this one ('' for that module). */
  get path(): string {
    const parts: string[] = [];
    for (let l = this.parentLink; l !== null; l = l.parent.parentLink) parts.unshift(l.name);
    return parts.join('.');
  }

  train(mode = true): this {
    this.training = mode;
    for (const c of this.children_.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  namedChildren(): [string, Module][] {
    return [...this.children_];
  }

  /** Every module in the tree, depth first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.children_) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedParameters(): [string, Tensor][] {
    return this.collect((m) => m.params);
  }

  parameters(): Tensor[] {
    return [...new Set(this.namedParameters().map(([, t]) => t))];
  }

  namedBuffers(): [string, Tensor][] {
    return this.collect((m) => m.bufs);
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  private collect(pick: (m: Module) => Map<string, Tensor | null>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, t] of pick(m)) if (t !== null) out.push([prefix ? `${prefix}.${n}` : n, t]);
    }
    return out;
  }

  /** Parameters and buffers by dotted key (live tensors, as in PyTorch). */
  stateDict(): StateDict {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies values into this module's tensors in place. Everything is checked before anything
   * is written: with strict (the default) missing and unexpected keys are errors; shape
   * mismatches, values that are not live tensors (null, arrays, disposed tensors) always are.
   * A failed load leaves the module untouched.
   */
  loadStateDict(
    sd: Record<string, Tensor>,
    opts: { strict?: boolean } = {},
  ): { missing: string[]; unexpected: string[] } {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missing = Object.keys(own).filter((k) => !(k in sd));
    const unexpected = Object.keys(sd).filter((k) => !(k in own));
    const problems: string[] = [];
    for (const [k, v] of Object.entries(sd)) {
      if (!(k in own)) continue;
      if (!(v instanceof Tensor)) {
        const got = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
        problems.push(`${k}: expected a Tensor, got ${got}`);
      } else if (v.isDisposed) {
        problems.push(`${k}: the tensor ${fmt(v.shape)} was disposed`);
      }
    }
    if (strict && missing.length > 0) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length > 0) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    for (const [k, t] of Object.entries(own)) {
      const src = sd[k];
      if (src instanceof Tensor && fmt(src.shape) !== fmt(t.shape)) {
        problems.push(`size mismatch for ${k}: expected ${fmt(t.shape)}, got ${fmt(src.shape)}`);
      }
    }
    if (problems.length > 0) {
      throw new Error(`loadStateDict(${this.describe()}): ${problems.join('; ')}`);
    }
    for (const [k, t] of Object.entries(own)) if (sd[k] !== undefined) t.data.set(sd[k].data);
    return { missing, unexpected };
  }

  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  numParameters(trainableOnly = true): number {
    return this.parameters()
      .filter((p) => !trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.size, 0);
  }

  /** One line per module: name, description, own parameter count; then the total. */
  summary(): string {
    const rows: [string, string, string][] = [['name', 'module', 'params']];
    for (const [name, m] of this.namedModules()) {
      const own = [...m.params.values()].reduce((n, p) => n + (p?.size ?? 0), 0);
      const depth = name === '' ? 0 : name.split('.').length;
      rows.push([
        name || '(root)',
        `${'  '.repeat(depth)}${m.describe()}`,
        own ? own.toLocaleString('en-US') : '-',
      ]);
    }
    const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
    const line = (r: string[]) =>
      `${r[0].padEnd(w[0])}  ${r[1].padEnd(w[1])}  ${r[2].padStart(w[2])}`;
    const total = this.numParameters(false);
    return [
      ...rows.map(line),
      `total parameters: ${total.toLocaleString('en-US')} (trainable ${this.numParameters().toLocaleString('en-US')})`,
    ].join('\n');
  }

  toString(): string {
    return this.summary();
  }
}
