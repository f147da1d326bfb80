// The model's parameters in the engine: one region for values, one with the identical layout for
// gradients, both allocated once, before any step mark. Initialisation is seeded and documented.
//
// A Supernet and all its subnets share these regions: a subnet reads leading slices in place.

import type { Engine } from "../engine/engine.js";
import { mhssmHeadRange, MHSSM_DT_MAX, MHSSM_DT_MIN } from "../engine/ssm.js";
import { headDimOf, layoutParams, paramTable, type ModelConfig, type ParamEntry } from "./config.js";
import { seededRandom } from "../util/random.js";

export interface ParamRef extends ParamEntry {
  ptr: number; // byte pointer to the values
  gptr: number; // byte pointer to the gradient (0 for constants)
}

export { seededRandom };

export class ModelParams {
  readonly entries: ParamEntry[];
  readonly total: number; // floats in each region
  readonly trainableFloats: number; // trained tensors occupy [0, trainableFloats); constants follow
  readonly paramPtr: number;
  readonly gradPtr: number;
  private readonly byName = new Map<string, ParamRef>();

  constructor(readonly engine: Engine, readonly cfg: ModelConfig) {
    const { entries, total, trainableFloats } = layoutParams(paramTable(cfg));
    this.entries = entries;
    this.total = total;
    this.trainableFloats = trainableFloats;
    this.paramPtr = engine.alloc(total, "parameters");
    this.gradPtr = engine.alloc(total, "gradients");
    engine.wasm.mem_zero_f32(this.paramPtr, total);
    engine.wasm.mem_zero_f32(this.gradPtr, total);
    for (const e of entries) {
      this.byName.set(e.name, {
        ...e,
        ptr: this.paramPtr + 4 * e.offset,
        gptr: e.trainable === false ? 0 : this.gradPtr + 4 * e.offset,
      });
    }
  }

  get(name: string): ParamRef {
    const p = this.byName.get(name);
    if (!p) throw new Error(`no parameter named ${name}`);
    return p;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  zeroGrad(): void {
    this.engine.wasm.mem_zero_f32(this.gradPtr, this.total);
  }

  /** Trained tensors as {offset, numel} slots of the regions (what the optimizer steps). */
  trainable(): { offset: number; numel: number; shape: number[] }[] {
    return this.entries.filter((e) => e.trainable !== false).map((e) => ({ offset: e.offset, numel: e.numel, shape: e.shape }));
  }

  /** Fresh copy of a tensor's values. */
  read(name: string): Float32Array {
    const p = this.get(name);
    return this.engine.read(p.ptr, p.numel);
  }

  write(name: string, values: ArrayLike<number>): void {
    const p = this.get(name);
    if (values.length !== p.numel) throw new Error(`${name}: expected ${p.numel} values, got ${values.length}`);
    this.engine.write(p.ptr, values);
  }

  /** The fan-in of the layer a bias belongs to (its weight's elements per output). */
  private fanInOfBias(name: string): number {
    const w = this.entries.find((e) => e.name === name.replace(/bias$/, "weight"));
    return w ? w.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  }

  /**
   * Seeded initialisation: linear and convolution weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))
   * (PyTorch's default), norm weights 1 and biases U(±0.05), embeddings N(0, 1), LSTM U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's),
   * the SSM as in src/engine/ssm.ts (mhssmInit): s spread over each head's dt range, C complex normal, D N(0,1),
   * A fixed at S4D-Lin and per-head dt ranges split geometrically over [dtMin, dtMax].
   */
  init(seed: number): void {
    const rnd = seededRandom(seed);
    const c = this.cfg;
    const P = headDimOf(c), N2 = c.stateSize / 2;
    const ssmCfg = { heads: c.heads, headDim: P, stateSize: c.stateSize, bidirectional: !c.causal, dtMin: c.ssmDtMin ?? MHSSM_DT_MIN, dtMax: c.ssmDtMax ?? MHSSM_DT_MAX };
    for (const e of this.entries) {
      const v = new Float32Array(e.numel);
      const leaf = e.name.slice(e.name.lastIndexOf(".") + 1);
      const fanIn = e.shape.slice(1).reduce((a, b) => a * b, 1);
      const uniform = (b: number) => {
        for (let i = 0; i < v.length; i++) v[i] = (rnd.uniform() * 2 - 1) * b;
      };
      switch (e.init) {
        case "linear":
        case "conv":
          uniform(1 / Math.sqrt(fanIn));
          break;
        case "lstm":
          uniform(1 / Math.sqrt(c.predictorDim));
          break;
        case "embedding":
          for (let i = 0; i < v.length; i++) v[i] = rnd.normal();
          break;
        case "bias":
          // PyTorch's default, U(±1/sqrt(fan_in)) with the fan-in of the layer, never 0: ScaledAdam's steps
          // are relative to a tensor's RMS, so a zero tensor would stay frozen (icefall's ScaledLinear
          // initialises its biases uniformly for the same reason).
          uniform(1 / Math.sqrt(this.fanInOfBias(e.name)));
          break;
        case "norm_bias":
          uniform(0.05); // small but not 0 (see "bias")
          break;
        case "norm_weight":
          v.fill(1);
          break;
        case "ssm_s":
          for (let ch = 0; ch < v.length; ch++) {
            const q = 0.05 + (0.9 * ((ch % P) + 0.5)) / P;
            v[ch] = Math.log(q / (1 - q));
          }
          break;
        case "ssm_c":
          for (let i = 0; i < v.length; i++) v[i] = rnd.normal() * Math.SQRT1_2;
          break;
        case "ssm_d":
          for (let i = 0; i < v.length; i++) v[i] = rnd.normal();
          break;
        case "ssm_const":
          if (leaf === "a_re") v.fill(-0.5);
          else if (leaf === "a_im") for (let n = 0; n < N2; n++) v[n] = Math.PI * n;
          else for (let ch = 0; ch < v.length; ch++) v[ch] = mhssmHeadRange(ssmCfg, Math.floor(ch / P))[leaf === "log_dt_min" ? 0 : 1];
          break;
        default: // zero: the feature mean (set from data)
          break;
      }
      this.engine.write(this.paramPtr + 4 * e.offset, v);
    }
  }
}
