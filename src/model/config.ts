// The model's configuration and its parameter table: every tensor's name and shape, in one order.
//
// The parameter region is laid out by this table alone (llm.c `ParameterTensors`): gradients and
// optimizer moments use the identical layout. A Supernet is the largest model; a subnet keeps the
// first `layers` encoder blocks, the leading `ffDim` units of every feed-forward module and the
// leading `heads` MH-SSM heads (an even number, so that gated pairs stay whole). Its weights are
// leading slices of the Supernet's tensors, read in place through leading-dimension strides.

export interface ModelConfig {
  featDim: number; // log-mel bins
  subsampleChannels: number; // channels of the two stride-2 convolutions
  dModel: number; // encoder width
  layers: number; // encoder blocks
  ffDim: number; // feed-forward hidden width
  heads: number; // MH-SSM heads (even); each owns headDim channels
  headDim?: number; // channels per MH-SSM head; 0 or absent = dModel / heads (an exported subnet with fewer heads keeps its Supernet's)
  stateSize: number; // N, the SSM state size per channel (even: N/2 complex pairs)
  convKernel: number; // depthwise convolution module kernel width; 0 = no convolution module
  causal: boolean; // streaming encoder: causal subsampling, forward-only SSM, causal depthwise conv
  ssmDtMin?: number; // smallest SSM step of the slowest head at initialisation (default 1e-3, S4D's)
  ssmDtMax?: number; // largest SSM step of the fastest head at initialisation (default 1e-1, S4D's)
  predictorDim: number; // LSTM predictor width (and its embedding)
  predictorLayers: number; // 1 or 2
  joinerDim: number;
  vocabSize: number; // including blank (id 0)
  /**
   * Weight w of the auxiliary CTC loss on the encoder output (hybrid CTC/transducer training: loss =
   * RNN-T + w·CTC). 0 or absent: no CTC head, nothing changes. > 0 adds `ctc.weight` [V, dModel] and
   * `ctc.bias` [V], shared by every subnet, trained only: export and inference drop them.
   */
  ctcWeight?: number;
  /**
   * The transducer's training loss. "full" (or absent): the RNN-T loss on the whole T x (U+1) lattice.
   * "pruned" (k2/icefall's pruned RNN-T, src/model/rnnt_pruned.ts): a "simple" loss on a trivial joiner
   * (am + lm, from the projections `simple.am.*` [V, dModel] and `simple.lm.*` [V, predictorDim], shared
   * by every subnet, trained only: export and inference drop them) picks a band of `pruneRange` symbols
   * per frame, and the real joiner and the RNN-T loss run on that band only. Inference is the same.
   */
  loss?: "full" | "pruned";
  /** Pruned loss: symbols kept per frame (k2 s_range, icefall prune_range). Default 5. */
  pruneRange?: number;
  /** Pruned loss: the simple loss's lm-only smoothing (k2 lm_only_scale, icefall lm_scale). Default 0.25. */
  simpleLmScale?: number;
  /** Pruned loss: the simple loss's am-only smoothing (k2 am_only_scale, icefall am_scale). Default 0. */
  simpleAmScale?: number;
  /** Pruned loss: the simple loss's weight after the warm-up (icefall simple_loss_scale). Default 0.5. */
  simpleLossScale?: number;
}

/** The pruned loss's options with their defaults (icefall's). */
export const PRUNED_DEFAULTS = { pruneRange: 5, simpleLmScale: 0.25, simpleAmScale: 0, simpleLossScale: 0.5 } as const;

/** Keys of ModelConfig that only the pruned loss reads (dropped with it from a run's saved config and from exports). */
const PRUNED_KEYS = ["loss", "pruneRange", "simpleLmScale", "simpleAmScale", "simpleLossScale"] as const;

export interface SubnetSpec {
  layers: number;
  ffDim: number;
  heads: number;
}

export const DEFAULT_MODEL: ModelConfig = {
  featDim: 80,
  subsampleChannels: 64,
  dModel: 144,
  layers: 6,
  ffDim: 576,
  heads: 4,
  headDim: 0,
  stateSize: 16,
  convKernel: 0,
  causal: true,
  ssmDtMin: 1e-3,
  ssmDtMax: 1e-1,
  predictorDim: 256,
  predictorLayers: 1,
  joinerDim: 256,
  vocabSize: 256,
  ctcWeight: 0,
};

export interface ParamSpec {
  name: string;
  shape: number[];
  /** How a subnet slices it: which dims shrink with which knob (leading slices only). */
  slice?: ("ff" | "ssm" | null)[];
  /** Encoder block index, for depth slicing (tensors of blocks >= layers are dropped). */
  block?: number;
  /** Initialisation family, for the host's initialiser. */
  init: "linear" | "bias" | "norm_weight" | "norm_bias" | "embedding" | "conv" | "ssm_s" | "ssm_c" | "ssm_d" | "ssm_const" | "lstm" | "zero";
  /** False for constants stored with the model but never trained (the SSM's fixed A and dt ranges). */
  trainable?: boolean;
}

/** Channels per MH-SSM head. */
export function headDimOf(c: ModelConfig): number {
  return c.headDim || c.dModel / c.heads;
}

/** True when two configs describe the same tensors and math (headDim resolved, vocabulary size ignored). */
export function sameArchitecture(a: ModelConfig, b: ModelConfig): boolean {
  const norm = (c: ModelConfig) => JSON.stringify(Object.entries({ ...withoutPrunedKeys(c), simpleHead: hasSimpleHead(c), headDim: headDimOf(c), vocabSize: 0, ctcWeight: hasCtcHead(c), ssmDtMin: c.ssmDtMin ?? 1e-3, ssmDtMax: c.ssmDtMax ?? 1e-1 }).sort(([x], [y]) => (x < y ? -1 : 1)));
  return norm(a) === norm(b);
}

/** True when the model carries the auxiliary CTC head (ctcWeight > 0): its tensors exist in the table. */
export function hasCtcHead(c: ModelConfig): boolean {
  return (c.ctcWeight ?? 0) > 0;
}

/** True when the model trains with the pruned RNN-T loss: the simple loss's projections exist in the table. */
export function hasSimpleHead(c: ModelConfig): boolean {
  return c.loss === "pruned";
}

/** The config without the pruned loss's keys (what a config with loss "full" is, key for key). */
export function withoutPrunedKeys(c: ModelConfig): ModelConfig {
  const out = { ...c } as Record<string, unknown>;
  for (const k of PRUNED_KEYS) delete out[k];
  return out as unknown as ModelConfig;
}

/**
 * Tensors used by training only (the auxiliary CTC head, the pruned loss's simple projections): not
 * counted, exported or loaded for inference.
 */
export function isTrainingOnly(p: { name: string }): boolean {
  return p.name.startsWith("ctc.") || p.name.startsWith("simple.");
}

/** The config without its training-only parts (ctcWeight, the loss and its options): what an exported or inference model carries. */
export function inferenceConfig(c: ModelConfig): ModelConfig {
  const { ctcWeight, ...rest } = withoutPrunedKeys(c);
  void ctcWeight;
  return rest;
}

/** Width of the MH-SSM layer (all heads): the rows of ssm.in, the columns of ssm.out. */
export function ssmWidth(c: ModelConfig): number {
  return c.heads * headDimOf(c);
}

/**
 * Output rows of a 3-tap, stride-2 window over `n` rows preceded by `pad` zero rows (0 when fewer than
 * 3 rows): the one subsampling length formula, for time (causal: pad 2; else 0) and frequency (pad 0).
 */
export function strideTwoRows(n: number, pad = 0): number {
  return n + pad >= 3 ? Math.floor((n + pad - 3) / 2) + 1 : 0;
}

/** Time subsampling pad: a causal encoder pads 2 zero rows before each stride-2 convolution, else none. */
export function subsamplePad(causal: boolean): number {
  return causal ? 2 : 0;
}

/** Frames after the two stride-2 convolutions of the frontend. */
export function subsampledLength(T: number, causal: boolean): number {
  const pad = subsamplePad(causal);
  return strideTwoRows(strideTwoRows(T, pad), pad);
}

/** Frequency bins after two 3x3 stride-2 convolutions without padding in frequency. */
export function subsampledBins(featDim: number): number {
  return strideTwoRows(strideTwoRows(featDim));
}

export function validateConfig(c: ModelConfig, source = "config"): void {
  const bad = (what: string) => {
    throw new Error(`${source}: ${what}`);
  };
  for (const [k, v] of Object.entries(c)) {
    if (k === "ctcWeight" || k === "simpleLossScale") {
      if (!(typeof v === "number" && Number.isFinite(v) && v >= 0)) bad(`${k} must be a finite number >= 0, got ${v}`);
    } else if (k === "simpleLmScale" || k === "simpleAmScale") {
      if (!(typeof v === "number" && v >= 0 && v <= 1)) bad(`${k} must be a number in [0, 1], got ${v}`);
    } else if (k === "loss") {
      if (v !== "full" && v !== "pruned") bad(`loss must be "full" or "pruned", got ${JSON.stringify(v)}`);
    } else if (k === "pruneRange") {
      if (!(typeof v === "number" && Number.isInteger(v) && v >= 2)) bad(`pruneRange must be an integer >= 2, got ${v}`);
    } else if (k === "ssmDtMin" || k === "ssmDtMax") {
      if (!(typeof v === "number" && v > 0)) bad(`${k} must be a positive number, got ${v}`);
    } else if (typeof v === "number" && (!Number.isInteger(v) || v < 0)) bad(`${k} must be a non-negative integer, got ${v}`);
  }
  if ((c.ssmDtMin ?? 1e-3) >= (c.ssmDtMax ?? 1e-1)) bad(`ssmDtMin must be below ssmDtMax`);
  if ((c.simpleLmScale ?? PRUNED_DEFAULTS.simpleLmScale) + (c.simpleAmScale ?? PRUNED_DEFAULTS.simpleAmScale) > 1) bad(`simpleLmScale + simpleAmScale must be <= 1`);
  if (c.heads < 2 || c.heads % 2) bad(`heads must be even and >= 2 (heads are gated in pairs), got ${c.heads}`);
  if (!c.headDim && c.dModel % c.heads) bad(`dModel (${c.dModel}) must be divisible by heads (${c.heads}), or set headDim`);
  if (c.stateSize < 2 || c.stateSize % 2) bad(`stateSize must be even (complex conjugate pairs), got ${c.stateSize}`);
  if (c.convKernel && c.convKernel % 2 === 0) bad(`convKernel must be odd, got ${c.convKernel}`);
  if (c.predictorLayers < 1 || c.predictorLayers > 2) bad(`predictorLayers must be 1 or 2`);
  if (c.featDim < 7) bad(`featDim must be at least 7`);
  if (c.vocabSize < 2) bad(`vocabSize must be at least 2 (blank and one symbol)`);
  if (c.layers < 1) bad(`layers must be at least 1`);
  if (c.predictorDim % 16) bad(`predictorDim must be a multiple of 16, got ${c.predictorDim}`);
  if (c.joinerDim % 16) bad(`joinerDim must be a multiple of 16, got ${c.joinerDim}`);
}

/** The full (Supernet) parameter table, in region order. */
export function paramTable(c: ModelConfig): ParamSpec[] {
  const d = c.dModel, cs = c.subsampleChannels, ff = c.ffDim, half = c.stateSize / 2, P = c.predictorDim, D = ssmWidth(c);
  const t: ParamSpec[] = [
    { name: "encoder.subsample.conv1.weight", shape: [cs, 1, 3, 3], init: "conv" },
    { name: "encoder.subsample.conv1.bias", shape: [cs], init: "bias" },
    { name: "encoder.subsample.conv2.weight", shape: [cs, cs, 3, 3], init: "conv" },
    { name: "encoder.subsample.conv2.bias", shape: [cs], init: "bias" },
    { name: "encoder.subsample.out.weight", shape: [d, cs * subsampledBins(c.featDim)], init: "linear" },
    { name: "encoder.subsample.out.bias", shape: [d], init: "bias" },
  ];
  const dirs = c.causal ? ["fwd"] : ["fwd", "bwd"];
  for (let l = 0; l < c.layers; l++) {
    const p = `encoder.blocks.${l}.`;
    const ffModule = (m: string) => {
      t.push({ name: `${p}${m}.norm.weight`, shape: [d], init: "norm_weight", block: l });
      t.push({ name: `${p}${m}.norm.bias`, shape: [d], init: "norm_bias", block: l });
      t.push({ name: `${p}${m}.w1.weight`, shape: [ff, d], slice: ["ff", null], init: "linear", block: l });
      t.push({ name: `${p}${m}.w1.bias`, shape: [ff], slice: ["ff"], init: "bias", block: l });
      t.push({ name: `${p}${m}.w2.weight`, shape: [d, ff], slice: [null, "ff"], init: "linear", block: l });
      t.push({ name: `${p}${m}.w2.bias`, shape: [d], init: "bias", block: l });
    };
    ffModule("ff1");
    t.push({ name: `${p}ssm.norm.weight`, shape: [d], init: "norm_weight", block: l });
    t.push({ name: `${p}ssm.norm.bias`, shape: [d], init: "norm_bias", block: l });
    t.push({ name: `${p}ssm.in.weight`, shape: [D, d], slice: ["ssm", null], init: "linear", block: l });
    t.push({ name: `${p}ssm.in.bias`, shape: [D], slice: ["ssm"], init: "bias", block: l });
    for (const dir of dirs) {
      t.push({ name: `${p}ssm.${dir}.s`, shape: [D], slice: ["ssm"], init: "ssm_s", block: l });
      t.push({ name: `${p}ssm.${dir}.c_re`, shape: [D, half], slice: ["ssm", null], init: "ssm_c", block: l });
      t.push({ name: `${p}ssm.${dir}.c_im`, shape: [D, half], slice: ["ssm", null], init: "ssm_c", block: l });
      t.push({ name: `${p}ssm.${dir}.d`, shape: [D], slice: ["ssm"], init: "ssm_d", block: l });
    }
    t.push({ name: `${p}ssm.a_re`, shape: [half], init: "ssm_const", trainable: false, block: l });
    t.push({ name: `${p}ssm.a_im`, shape: [half], init: "ssm_const", trainable: false, block: l });
    t.push({ name: `${p}ssm.log_dt_min`, shape: [D], slice: ["ssm"], init: "ssm_const", trainable: false, block: l });
    t.push({ name: `${p}ssm.log_dt_max`, shape: [D], slice: ["ssm"], init: "ssm_const", trainable: false, block: l });
    t.push({ name: `${p}ssm.out.weight`, shape: [d, D], slice: [null, "ssm"], init: "linear", block: l });
    t.push({ name: `${p}ssm.out.bias`, shape: [d], init: "bias", block: l });
    if (c.convKernel) {
      t.push({ name: `${p}conv.norm.weight`, shape: [d], init: "norm_weight", block: l });
      t.push({ name: `${p}conv.norm.bias`, shape: [d], init: "norm_bias", block: l });
      t.push({ name: `${p}conv.pw1.weight`, shape: [2 * d, d], init: "linear", block: l });
      t.push({ name: `${p}conv.pw1.bias`, shape: [2 * d], init: "bias", block: l });
      t.push({ name: `${p}conv.dw.weight`, shape: [d, c.convKernel], init: "conv", block: l });
      t.push({ name: `${p}conv.dw.bias`, shape: [d], init: "bias", block: l });
      t.push({ name: `${p}conv.pw2.weight`, shape: [d, d], init: "linear", block: l });
      t.push({ name: `${p}conv.pw2.bias`, shape: [d], init: "bias", block: l });
    }
    ffModule("ff2");
    t.push({ name: `${p}norm.weight`, shape: [d], init: "norm_weight", block: l });
    t.push({ name: `${p}norm.bias`, shape: [d], init: "norm_bias", block: l });
  }
  // The predictor and the joiner, each a contiguous block in the layouts of src/model/predictor.ts and
  // src/model/joiner.ts (no alignment padding inside: validateConfig requires widths divisible by 16).
  // joiner.enc is the encoder's output projection (icefall's joiner.encoder_proj).
  t.push({ name: "predictor.embedding.weight", shape: [c.vocabSize, P], init: "embedding" });
  for (let l = 0; l < c.predictorLayers; l++) {
    t.push({ name: `predictor.lstm.${l}.w_ih`, shape: [4 * P, P], init: "lstm" });
    t.push({ name: `predictor.lstm.${l}.w_hh`, shape: [4 * P, P], init: "lstm" });
    t.push({ name: `predictor.lstm.${l}.b_ih`, shape: [4 * P], init: "lstm" });
    t.push({ name: `predictor.lstm.${l}.b_hh`, shape: [4 * P], init: "lstm" });
  }
  t.push({ name: "joiner.enc.weight", shape: [c.joinerDim, d], init: "linear" });
  t.push({ name: "joiner.enc.bias", shape: [c.joinerDim], init: "bias" });
  t.push({ name: "joiner.pred.weight", shape: [c.joinerDim, P], init: "linear" });
  t.push({ name: "joiner.pred.bias", shape: [c.joinerDim], init: "bias" });
  t.push({ name: "joiner.out.weight", shape: [c.vocabSize, c.joinerDim], init: "linear" });
  t.push({ name: "joiner.out.bias", shape: [c.vocabSize], init: "bias" });
  // The auxiliary CTC head on the encoder output (training only; absent unless ctcWeight > 0).
  if (hasCtcHead(c)) {
    t.push({ name: "ctc.weight", shape: [c.vocabSize, d], init: "linear" });
    t.push({ name: "ctc.bias", shape: [c.vocabSize], init: "bias" });
  }
  // The pruned loss's simple joiner: the encoder and the predictor projected to V (training only; absent
  // unless loss is "pruned"). After the CTC head, so every tensor before them draws the same initial values.
  if (hasSimpleHead(c)) {
    t.push({ name: "simple.am.weight", shape: [c.vocabSize, d], init: "linear" });
    t.push({ name: "simple.am.bias", shape: [c.vocabSize], init: "bias" });
    t.push({ name: "simple.lm.weight", shape: [c.vocabSize, P], init: "linear" });
    t.push({ name: "simple.lm.bias", shape: [c.vocabSize], init: "bias" });
  }
  // Global feature normalisation (mean and inverse std per bin), measured on training data.
  t.push({ name: "frontend.feat_mean", shape: [c.featDim], init: "zero", trainable: false });
  t.push({ name: "frontend.feat_istd", shape: [c.featDim], init: "norm_weight", trainable: false });
  return t;
}

export interface ParamEntry extends ParamSpec {
  offset: number; // in floats, from the start of the region
  numel: number;
}

/**
 * Lays the table out in one region: offsets 16-float (64-byte) aligned so SIMD loads stay aligned.
 * Trained tensors come first and constants last, so an optimizer can step one leading span
 * (`trainableFloats`) and never touch a constant (AdamW's weight decay would).
 */
export function layoutParams(table: ParamSpec[]): { entries: ParamEntry[]; total: number; trainableFloats: number } {
  let off = 0;
  let trainableFloats = 0;
  const ordered = [...table.filter((p) => p.trainable !== false), ...table.filter((p) => p.trainable === false)];
  const entries = ordered.map((p) => {
    if (p.trainable === false && trainableFloats === 0) trainableFloats = off;
    const numel = p.shape.reduce((a, b) => a * b, 1);
    const e = { ...p, offset: off, numel };
    off += Math.ceil(numel / 16) * 16;
    return e;
  });
  if (trainableFloats === 0) trainableFloats = off;
  return { entries, total: off, trainableFloats };
}

/** A subnet's shape of a Supernet tensor (leading slices), or null if its block is dropped. */
export function subnetShape(p: ParamSpec, c: ModelConfig, s: SubnetSpec): number[] | null {
  if (p.block !== undefined && p.block >= s.layers) return null;
  const width = headDimOf(c) * s.heads;
  return p.shape.map((dim, i) => (p.slice?.[i] === "ff" ? s.ffDim : p.slice?.[i] === "ssm" ? width : dim));
}

/** Number of trained parameters of a subnet (the Supernet when s is its own spec), without the training-only heads (CTC, simple loss). */
export function countParams(c: ModelConfig, s: SubnetSpec = supernetSpec(c)): number {
  let n = 0;
  for (const p of paramTable(c)) {
    if (p.trainable === false || isTrainingOnly(p)) continue;
    const sh = subnetShape(p, c, s);
    if (sh) n += sh.reduce((a, b) => a * b, 1);
  }
  return n;
}

export function supernetSpec(c: ModelConfig): SubnetSpec {
  return { layers: c.layers, ffDim: c.ffDim, heads: c.heads };
}

/** A readable subnet name, e.g. `L6-ff576-h4`. */
export function subnetName(s: SubnetSpec): string {
  return `L${s.layers}-ff${s.ffDim}-h${s.heads}`;
}

export function parseSubnetName(name: string): SubnetSpec {
  const m = /^L(\d+)-ff(\d+)-h(\d+)$/.exec(name);
  if (!m) throw new Error(`"${name}" is not a subnet name (expected e.g. L6-ff576-h4)`);
  return { layers: Number(m[1]), ffDim: Number(m[2]), heads: Number(m[3]) };
}

/**
 * Multiply-accumulates per second of audio for the encoder, predictor and joiner of a subnet, counting
 * GEMMs and the SSM scan (the dominant terms), at 100 feature frames per second and, for the predictor
 * and joiner, `tokensPerSecond` emitted symbols (greedy decoding evaluates the joiner once per frame
 * plus once per symbol).
 */
export function macsPerSecond(c: ModelConfig, s: SubnetSpec, tokensPerSecond = 3): number {
  const F1 = strideTwoRows(c.featDim), F2 = subsampledBins(c.featDim);
  const cs = c.subsampleChannels, d = c.dModel;
  const T1 = 50, T2 = 25; // frames per second after each stride-2 convolution
  let macs = T1 * F1 * cs * 9 + T2 * F2 * cs * cs * 9 + T2 * cs * F2 * d;
  const D = headDimOf(c) * s.heads, dirs = c.causal ? 1 : 2;
  const perBlock =
    2 * (2 * d * s.ffDim) + // two feed-forward modules
    2 * d * D + // SSM in and out projections
    dirs * D * c.stateSize * 2 + // the scan: complex state update and readout
    (c.convKernel ? 3 * d * d + d * c.convKernel : 0);
  macs += T2 * s.layers * perBlock + T2 * d * c.joinerDim;
  const P = c.predictorDim;
  macs += tokensPerSecond * (c.predictorLayers * 8 * P * P + P * c.joinerDim);
  macs += (T2 + tokensPerSecond) * c.joinerDim * c.vocabSize;
  return macs;
}
