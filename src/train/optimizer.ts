// AdamW over tf.Variables with global-norm gradient clipping and exportable state (m, v, step) for checkpoints.
// Algorithm: Loshchilov & Hutter 2019 "Decoupled Weight Decay Regularization", update order as in torch.optim.AdamW;
// clipping as in torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (norm + 1e-6), capped at 1).
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../core/errors";
import type { HostTensor } from "../model/safetensors";

export interface AdamWConfig {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay coefficient (applied as p *= 1 - lr * weightDecay). */
  weightDecay?: number;
}

export interface NamedParam {
  name: string;
  variable: tf.Variable;
}

/** Optimizer state as plain arrays: what checkpoints store. */
export interface AdamWState {
  /** Number of updates applied so far. */
  step: number;
  /** Per-parameter first and second moments keyed by parameter name. */
  m: Map<string, HostTensor>;
  v: Map<string, HostTensor>;
}

/** Default decay filter: decay matrices, never norms' gains or biases (rank-1 tensors or names saying so). */
export function defaultDecayFilter(name: string, variable: tf.Variable): boolean {
  return variable.shape.length >= 2 && !/norm|bias/i.test(name);
}

/** sqrt(sum of squares over all tensors). Returns a new scalar; caller disposes. */
export function globalNorm(tensors: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    if (tensors.length === 0) return tf.scalar(0);
    return tf.sqrt(tf.addN(tensors.map((t) => tf.sum(tf.square(t))))) as tf.Scalar;
  });
}

/**
 * Scales gradients so their global norm is at most maxNorm. Returns new tensors (caller disposes both the
 * gradients and the norm) and the pre-clip norm as a scalar tensor.
 */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: tf.Scalar } {
  return tf.tidy(() => {
    const norm = globalNorm(grads);
    const coef = tf.minimum(tf.scalar(1), tf.div(tf.scalar(maxNorm), tf.add(norm, tf.scalar(1e-6))));
    return { grads: grads.map((g) => tf.mul(g, coef)), norm };
  });
}

/**
 * Gradient accumulation over micro-batches: acc + grads by variable name (tf.variableGrads maps). Disposes both inputs
 * and returns the new sum; acc null (the first micro-batch) returns grads itself.
 */
export function accumulateGradients(acc: tf.NamedTensorMap | null, grads: tf.NamedTensorMap): tf.NamedTensorMap {
  if (acc === null) return grads;
  const sum: tf.NamedTensorMap = {};
  for (const name of Object.keys(acc)) sum[name] = tf.add(acc[name]!, grads[name]!);
  tf.dispose([...Object.values(acc), ...Object.values(grads)]);
  return sum;
}

/**
 * The NaN guard of an update: the global norm of the accumulated gradients, and one optimizer step only when both
 * `loss` and that norm are finite (otherwise the weights stay untouched). Disposes the gradients.
 */
export function applyIfFinite(optimizer: AdamW, grads: tf.NamedTensorMap, loss: number, options: ApplyOptions): { gradNorm: number; finite: boolean } {
  const normT = globalNorm(Object.values(grads));
  const gradNorm = normT.dataSync()[0]!;
  normT.dispose();
  const finite = Number.isFinite(loss) && Number.isFinite(gradNorm);
  if (finite) optimizer.applyGradients(grads, options);
  tf.dispose(Object.values(grads));
  return { gradNorm, finite };
}

export interface ApplyOptions {
  lr: number;
  /** Clip the global gradient norm to this value (omit or <= 0 for no clipping). */
  maxGradNorm?: number;
}

/** AdamW with a lifecycle: owns its moment variables; dispose() frees them. */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly params: NamedParam[];
  private readonly decay: boolean[];
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private t = 0;

  /**
   * @param params variables to optimize; plain variables are named "param.<index>" (names key the saved state,
   *   so pass stable names when the state must survive a restart with differently-created variables).
   * @param decayFilter which parameters get weight decay (default: matrices only).
   */
  constructor(
    params: ReadonlyArray<tf.Variable | NamedParam>,
    config: AdamWConfig = {},
    decayFilter: (name: string, variable: tf.Variable) => boolean = defaultDecayFilter,
  ) {
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.95;
    this.eps = config.eps ?? 1e-8;
    this.weightDecay = config.weightDecay ?? 0.1;
    this.params = params.map((p, i) => (p instanceof tf.Variable ? { name: `param.${i}`, variable: p } : p));
    const seen = new Set<string>();
    for (const p of this.params) {
      if (seen.has(p.name)) throw new Error(`AdamW: duplicate parameter name "${p.name}"`);
      seen.add(p.name);
    }
    this.decay = this.params.map((p) => decayFilter(p.name, p.variable));
    // tidy disposes the zeros that initialise each variable (variables themselves survive a tidy)
    this.m = tf.tidy(() => this.params.map((p) => tf.variable(tf.zeros(p.variable.shape), false)));
    this.v = tf.tidy(() => this.params.map((p) => tf.variable(tf.zeros(p.variable.shape), false)));
  }

  /** Number of updates applied so far. */
  get step(): number {
    return this.t;
  }

  get paramNames(): string[] {
    return this.params.map((p) => p.name);
  }

  /** Which parameters receive weight decay, by name. */
  get decayedNames(): string[] {
    return this.params.filter((_, i) => this.decay[i]).map((p) => p.name);
  }

  /**
   * Applies one update. `grads` is either an array aligned with the parameters or a map keyed by
   * variable.name (what tf.variableGrads returns). The gradients are not disposed here (the caller owns them).
   * Returns the global gradient norm before clipping.
   */
  applyGradients(grads: readonly tf.Tensor[] | tf.NamedTensorMap, options: ApplyOptions): number {
    const list = Array.isArray(grads)
      ? (grads as readonly tf.Tensor[])
      : this.params.map((p) => {
          const g = (grads as tf.NamedTensorMap)[p.variable.name];
          if (!g) throw new Error(`AdamW: no gradient for parameter "${p.name}" (variable ${p.variable.name})`);
          return g;
        });
    if (list.length !== this.params.length) throw new Error(`AdamW: ${list.length} gradients for ${this.params.length} parameters`);
    this.t += 1;
    const { lr } = options;
    const b1 = this.beta1, b2 = this.beta2;
    const bc1 = 1 - b1 ** this.t;
    const bc2 = 1 - b2 ** this.t;
    const norm = tf.tidy(() => {
      const n = globalNorm(list);
      const clip = options.maxGradNorm !== undefined && options.maxGradNorm > 0;
      const coef = clip ? tf.minimum(tf.scalar(1), tf.div(tf.scalar(options.maxGradNorm!), tf.add(n, tf.scalar(1e-6)))) : null;
      const sB1 = tf.scalar(b1), sB1c = tf.scalar(1 - b1), sB2 = tf.scalar(b2), sB2c = tf.scalar(1 - b2);
      const stepSize = tf.scalar(-lr / bc1);
      const invSqrtBc2 = tf.scalar(1 / Math.sqrt(bc2));
      const eps = tf.scalar(this.eps);
      const keep = tf.scalar(1 - lr * this.weightDecay);
      for (let i = 0; i < this.params.length; i++) {
        const p = this.params[i]!.variable;
        const g = coef ? tf.mul(list[i]!, coef) : list[i]!;
        const m = this.m[i]!, v = this.v[i]!;
        const mNew = tf.add(tf.mul(m, sB1), tf.mul(g, sB1c));
        const vNew = tf.add(tf.mul(v, sB2), tf.mul(tf.square(g), sB2c));
        m.assign(mNew);
        v.assign(vNew);
        const base = this.decay[i] && this.weightDecay !== 0 ? tf.mul(p, keep) : p;
        const denom = tf.add(tf.mul(tf.sqrt(vNew), invSqrtBc2), eps);
        p.assign(tf.add(base, tf.mul(tf.div(mNew, denom), stepSize)));
      }
      return n;
    });
    const value = norm.dataSync()[0] as number;
    norm.dispose();
    return value;
  }

  /** Copies the state out as plain arrays (for optimizer.safetensors). */
  exportState(): AdamWState {
    const m = new Map<string, HostTensor>();
    const v = new Map<string, HostTensor>();
    this.params.forEach((p, i) => {
      m.set(p.name, { shape: p.variable.shape.slice(), data: (this.m[i]!.dataSync() as Float32Array).slice() });
      v.set(p.name, { shape: p.variable.shape.slice(), data: (this.v[i]!.dataSync() as Float32Array).slice() });
    });
    return { step: this.t, m, v };
  }

  /** Restores state saved by exportState(); every parameter must be present with its shape. */
  importState(state: AdamWState, file?: string): void {
    const loc = file !== undefined ? { file } : {};
    const checked = this.params.map((p) => {
      const m = state.m.get(p.name), v = state.v.get(p.name);
      if (!m || !v) throw new InputError(`optimizer state has no moments for parameter "${p.name}"`, { ...loc, field: p.name });
      for (const t of [m, v]) {
        if (t.shape.length !== p.variable.shape.length || t.shape.some((d, k) => d !== p.variable.shape[k])) {
          throw new InputError(`optimizer state for "${p.name}" has shape ${JSON.stringify(t.shape)}, parameter has ${JSON.stringify(p.variable.shape)}`, { ...loc, field: p.name });
        }
      }
      return [m, v] as const;
    });
    checked.forEach(([m, v], i) => {
      tf.tidy(() => {
        this.m[i]!.assign(tf.tensor(m.data, m.shape));
        this.v[i]!.assign(tf.tensor(v.data, v.shape));
      });
    });
    this.t = state.step;
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
    this.m.length = 0;
    this.v.length = 0;
  }
}

/** Flattens optimizer state into one tensor map ("m.<name>", "v.<name>") plus metadata, for safetensors. */
export function adamWStateToTensors(state: AdamWState): { tensors: Map<string, HostTensor>; metadata: Record<string, string> } {
  const tensors = new Map<string, HostTensor>();
  for (const [k, t] of state.m) tensors.set(`m.${k}`, t);
  for (const [k, t] of state.v) tensors.set(`v.${k}`, t);
  return { tensors, metadata: { optimizer: "adamw", step: String(state.step) } };
}

/** Inverse of adamWStateToTensors. */
export function adamWStateFromTensors(tensors: ReadonlyMap<string, HostTensor>, metadata: Record<string, string>, file?: string): AdamWState {
  const step = Number(metadata["step"]);
  if (!Number.isInteger(step) || step < 0) throw new InputError(`optimizer metadata "step" must be a non-negative integer, got ${metadata["step"]}`, { ...(file !== undefined ? { file } : {}), field: "__metadata__.step" });
  const m = new Map<string, HostTensor>();
  const v = new Map<string, HostTensor>();
  for (const [k, t] of tensors) {
    if (k.startsWith("m.")) m.set(k.slice(2), t);
    else if (k.startsWith("v.")) v.set(k.slice(2), t);
  }
  return { step, m, v };
}
