// Building blocks of the Llama/Qwen2 decoder in raw tfjs ops: RMSNorm, rotary tables, masks, embedding, log-prob picking.
// Formulas follow transformers' modeling_llama.py (rotate_half rotary convention, RMSNorm in fp32, SwiGLU), rewritten.
import * as tf from "@tensorflow/tfjs";

/** Additive mask value for disallowed attention entries (finite, so fully masked rows stay NaN-free). */
export const MASK_VALUE = -1e9;

/**
 * RMSNorm over the last axis: x * rsqrt(mean(x*x) + eps) * weight.
 * x: [..., d], weight: [d] -> [..., d]. Caller disposes (or runs inside tf.tidy).
 * Custom gradient (fewer kernels than autograd through mean/rsqrt/broadcasts), with xr = x * r, r = rsqrt(...):
 * dx = r * (g - xr * mean(g * xr)) where g = dy * weight; dweight = sum over rows of dy * xr.
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xi = args[0] as tf.Tensor;
    const w = args[1] as tf.Tensor;
    const r = tf.rsqrt(tf.add(tf.mean(tf.mul(xi, xi), -1, true), eps));
    const xr = tf.mul(xi, r);
    const value = tf.mul(xr, w);
    (args[2] as tf.GradSaveFunc)([w, r, xr]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [ws, rs, xrs] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const g = tf.mul(dy, ws);
      const dx = tf.mul(tf.sub(g, tf.mul(xrs, tf.mean(tf.mul(g, xrs), -1, true))), rs);
      const d = ws.shape[0] as number;
      const dw = tf.sum(tf.reshape(tf.mul(dy, xrs), [-1, d]), 0);
      return [dx, dw];
    };
    return { value, gradFunc };
  });
  return f(x, weight);
}

/** SiLU(x) = x * sigmoid(x). Caller disposes. */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/**
 * SwiGLU on fused projections: gu [n, 2F] with columns gate | up -> silu(gate) * up [n, F], with a custom gradient
 * that returns d(gu) in one concat (autograd would go through two slice gradients (pads + add) and sigmoid's chain):
 * d(up) = dy * silu(gate), d(gate) = dy * up * silu'(gate), silu' = sig + silu * (1 - sig). Caller disposes.
 */
export function swiGlu(gu: tf.Tensor2D): tf.Tensor2D {
  const [n, twoF] = gu.shape;
  const F = twoF / 2;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const gate = tf.slice(x, [0, 0], [n, F]);
    const up = tf.slice(x, [0, F], [n, F]);
    const sig = tf.sigmoid(gate);
    const act = tf.mul(gate, sig);
    const value = tf.mul(act, up) as tf.Tensor2D;
    (args[1] as tf.GradSaveFunc)([up, sig, act]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [ups, sigs, acts] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const deriv = tf.sub(tf.add(sigs, acts), tf.mul(acts, sigs));
      return [tf.concat([tf.mul(tf.mul(dy, ups), deriv), tf.mul(dy, acts)], 1)];
    };
    return { value, gradFunc };
  });
  return f(gu) as tf.Tensor2D;
}

const invFreqCache = new Map<string, Float32Array>();

/** Rotary inverse frequencies inv[i] = 1 / theta^(2i/headDim), i < headDim/2, rounded to float32 as HF does. */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  const key = `${headDim}:${theta}`;
  let inv = invFreqCache.get(key);
  if (inv === undefined) {
    inv = new Float32Array(headDim / 2);
    for (let i = 0; i < headDim / 2; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / headDim);
    invFreqCache.set(key, inv);
  }
  return inv;
}

/**
 * cos/sin rows for the given positions in HF's layout: row p = [cos(p*inv), cos(p*inv)] (the half-frequency table
 * repeated), matching rotate_half. Returns two Float32Arrays of positions.length * headDim values.
 */
export function ropeTables(positions: ArrayLike<number>, headDim: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInvFreq(headDim, theta);
  const half = headDim / 2;
  const n = positions.length;
  const cos = new Float32Array(n * headDim);
  const sin = new Float32Array(n * headDim);
  for (let r = 0; r < n; r++) {
    const p = positions[r] as number;
    const o = r * headDim;
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * (inv[i] as number));
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[o + i] = c;
      cos[o + half + i] = c;
      sin[o + i] = s;
      sin[o + half + i] = s;
    }
  }
  return { cos, sin };
}

/**
 * The [headDim, headDim] matrix R with x @ R == rotate_half(x) = concat(-x2, x1) for row vectors x = [x1, x2].
 * Caller disposes.
 */
export function rotateHalfMatrix(headDim: number): tf.Tensor2D {
  const half = headDim / 2;
  const r = new Float32Array(headDim * headDim);
  for (let j = 0; j < half; j++) {
    r[(j + half) * headDim + j] = -1; // out[j] = -x[j+half]
    r[j * headDim + (j + half)] = 1; // out[j+half] = x[j]
  }
  return tf.tensor2d(r, [headDim, headDim]);
}

/** rotate_half(x) = concat(-x[..., half:], x[..., :half]) with slices (reference path). Caller disposes. */
export function rotateHalf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const d = x.shape[x.rank - 1] as number;
    const [x1, x2] = tf.split(x, [d / 2, d / 2], -1) as [tf.Tensor, tf.Tensor];
    return tf.concat([tf.neg(x2), x1], -1);
  });
}

/**
 * Position of each token: its index among the valid (mask = 1) tokens of its row, so left padding does not shift
 * positions (pads get 0). mask: row-major [batch * seq] (1 = token, 0 = pad), plus an offset per row (tokens
 * already in a KV cache). Returns Int32Array [batch * seq].
 */
export function positionsFromMask(mask: ArrayLike<number>, batch: number, seq: number, offsets?: ArrayLike<number>): Int32Array {
  const pos = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    let next = offsets ? (offsets[b] as number) : 0;
    for (let t = 0; t < seq; t++) {
      const i = b * seq + t;
      if ((mask[i] as number) !== 0) pos[i] = next++;
      else pos[i] = Math.max(0, next - 1);
    }
  }
  return pos;
}

/**
 * Additive attention mask [batch, 1, seq, pastLen + seq] as a Float32Array: query t may see key j when the key is
 * valid and j <= pastLen + t (causal); a query always sees itself, so rows of padding stay finite.
 * keyValid: row-major [batch * (pastLen + seq)], 1 = real token.
 */
export function attentionMaskValues(keyValid: ArrayLike<number>, batch: number, seq: number, pastLen: number): Float32Array {
  const L = pastLen + seq;
  const out = new Float32Array(batch * seq * L);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      const row = (b * seq + t) * L;
      const self = pastLen + t;
      for (let j = 0; j < L; j++) {
        const ok = j === self || (j < self && (keyValid[b * L + j] as number) !== 0);
        out[row + j] = ok ? 0 : MASK_VALUE;
      }
    }
  }
  return out;
}

/**
 * Embedding lookup whose gradient never uses tf.gather's gradient path on wasm: forward tf.gather, backward
 * unsortedSegmentSum when the backend has the kernel (wasm gets a JS one from wasm-kernels.ts), else a one-hot matmul.
 * table: [vocab, d], ids: int32 [n] -> [n, d]. Caller disposes.
 */
export function embedLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const vocab = table.shape[0];
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const tbl = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([ids]);
    const value = tf.gather(tbl, ids) as tf.Tensor2D;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const idx = saved[0] as tf.Tensor1D;
      if (tf.getKernel("UnsortedSegmentSum", tf.getBackend()) !== undefined) {
        return [tf.unsortedSegmentSum(dy, idx, vocab)];
      }
      return [tf.matMul(tf.transpose(tf.oneHot(idx, vocab).toFloat()), dy)];
    };
    return { value, gradFunc };
  });
  return f(table) as tf.Tensor2D;
}

/**
 * Picks log p(target) from log-probabilities without gather: sum(logp * oneHot(targets)) over the last axis.
 * logp: [n, vocab], targets: int32 [n] -> [n]. Differentiable w.r.t. logp. Caller disposes.
 */
export function pickByOneHot(logp: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(logp, tf.oneHot(targets, logp.shape[1]).toFloat()), -1) as tf.Tensor1D);
}

/**
 * log p(target) from raw logits [n, vocab] and int32 targets [n] -> [n], using the backend's Softmax kernel (XNNPACK
 * on wasm) instead of an exp over the whole vocabulary: logsumexp(x) = max(x) - log(max(softmax(x))), exact because
 * the largest probability is exp(0)/Z. The target logit is read by a forward-only gather on the flattened logits.
 * Custom gradient: dlogits = dy * (oneHot(target) - softmax). Caller disposes.
 */
export function logProbsOfTargets(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const [n, V] = logits.shape;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const p = tf.softmax(x);
    const lse = tf.sub(tf.max(x, -1), tf.log(tf.max(p, -1)));
    const flat = tf.add(tf.mul(tf.range(0, n, 1, "int32"), tf.scalar(V, "int32")), tf.cast(targets, "int32"));
    const value = tf.sub(tf.gather(tf.reshape(x, [-1]), flat), lse) as tf.Tensor1D;
    save([p]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      // int32 oneHot + cast: the wasm OneHot kernel writes int32 bits even when asked for float32
      const oneHot = tf.cast(tf.oneHot(tf.cast(targets, "int32"), V), "float32");
      return [tf.mul(tf.expandDims(dy, 1), tf.sub(oneHot, saved[0] as tf.Tensor))];
    };
    return { value, gradFunc };
  });
  return f(logits) as tf.Tensor1D;
}

/**
 * log of the total probability of an allowed set of tokens, per row: logits [n, vocab], bias [n, vocab] with 0 on the
 * allowed ids and a large negative number (e.g. -1e9) elsewhere -> [n] = lse(logits + bias) - lse(logits). A row of
 * zeros allows everything (value 0). Custom gradient: dlogits = dy * (softmax(logits + bias) - softmax(logits)).
 * Caller disposes.
 */
export function setLogProbs(logits: tf.Tensor2D, bias: tf.Tensor2D): tf.Tensor1D {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const xb = tf.add(x, bias);
    const p = tf.softmax(x);
    const pb = tf.softmax(xb);
    const lse = (z: tf.Tensor, pz: tf.Tensor) => tf.sub(tf.max(z, -1), tf.log(tf.max(pz, -1)));
    const value = tf.sub(lse(xb, pb), lse(x, p)) as tf.Tensor1D;
    save([p, pb]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(tf.expandDims(dy, 1), tf.sub(saved[1]!, saved[0]!))];
    return { value, gradFunc };
  });
  return f(logits) as tf.Tensor1D;
}

/** Entropy of softmax(logits) over the last axis, [n, vocab] -> [n]: lse - sum(p * x). Caller disposes. */
export function entropyFromLogits(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const p = tf.softmax(logits);
    const lse = tf.sub(tf.max(logits, -1), tf.log(tf.max(p, -1)));
    return tf.sub(lse, tf.sum(tf.mul(p, logits), -1)) as tf.Tensor1D;
  });
}

/** Entropy -sum(p log p) over the last axis of log-probabilities [n, vocab] -> [n]. Caller disposes. */
export function entropyFromLogProbs(logp: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)) as tf.Tensor1D);
}

/** Columns [start, start+len) of a row-major [rows, cols] matrix, transposed to a fresh [len, rows] array. */
export function transposeBlock(src: Float32Array, rows: number, cols: number, start: number, len: number): Float32Array {
  const out = new Float32Array(len * rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols + start;
    for (let j = 0; j < len; j++) out[j * rows + r] = src[o + j] as number;
  }
  return out;
}

/** Inverse of transposeBlock: writes src [len, rows] into columns [start, start+len) of dst [rows, cols]. */
export function untransposeBlock(src: Float32Array, dst: Float32Array, rows: number, cols: number, start: number, len: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols + start;
    for (let j = 0; j < len; j++) dst[o + j] = src[j * rows + r] as number;
  }
}
