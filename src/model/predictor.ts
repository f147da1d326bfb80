// The RNN-T predictor on the host: Embedding -> 1 or 2 LSTM layers -> optional LayerNorm, composed
// from the kernels in assembly/ops/embedding.ts, assembly/transducer/lstm.ts and assembly/transducer/pred_layernorm.ts.
//
// What it is: forward and backward over a padded label batch ids [B, U+1] (blank first, then the
// labels), and a single step with carried state for decoding. Parameters live in one flat f32 region
// laid out by `predictorParams(cfg)`; gradients use the identical layout. The LayerNorm, when on, is
// applied to the last LSTM layer's output (eps 1e-5, as torch.nn.LayerNorm).
// What it is not: a stateless (conv) predictor as in icefall's zipformer, nor sliced for subnets.
// Reference: torch Embedding + LSTM(batch_first) + LayerNorm (test/ref/lstm.py).

import type { Engine, EngineExports } from "../engine/engine.js";
import type { ArenaExports, WasmHost } from "../wasm/host.js";
import type { ModelConfig } from "./config.js";

/** A host that can run predictorForward / predictorStep: the training Engine or the inference build's InferHost. */
export type PredictorHost = WasmHost<ArenaExports & Pick<EngineExports, "embedding_forward" | "mem_zero_f32" | "lstm_forward" | "pred_layernorm_forward">>;

export interface PredictorConfig {
  vocab: number; // V, including the blank
  embedDim: number; // E
  hidden: number; // H, also the output width
  layers: 1 | 2;
  layerNorm: boolean;
}

/** The transducer's predictor for a model config (the one definition: training, export and inference). */
export function predictorConfig(c: ModelConfig): PredictorConfig {
  return { vocab: c.vocabSize, embedDim: c.predictorDim, hidden: c.predictorDim, layers: c.predictorLayers as 1 | 2, layerNorm: false };
}

export interface NamedShape {
  name: string;
  shape: number[];
}

/** The parameter table, in storage order (torch names: embedding, lstm{l}.w_ih/w_hh/b_ih/b_hh, ln.gamma/beta). */
export function predictorParams(cfg: PredictorConfig): NamedShape[] {
  const { vocab: V, embedDim: E, hidden: H } = cfg;
  const out: NamedShape[] = [{ name: "embedding", shape: [V, E] }];
  for (let l = 0; l < cfg.layers; l++) {
    const In = l === 0 ? E : H;
    out.push({ name: `lstm${l}.w_ih`, shape: [4 * H, In] }, { name: `lstm${l}.w_hh`, shape: [4 * H, H] });
    out.push({ name: `lstm${l}.b_ih`, shape: [4 * H] }, { name: `lstm${l}.b_hh`, shape: [4 * H] });
  }
  if (cfg.layerNorm) out.push({ name: "ln.gamma", shape: [H] }, { name: "ln.beta", shape: [H] });
  return out;
}

/** Offsets (in floats) of each parameter in the flat region, and its total size. */
export function namedShapeOffsets(specs: NamedShape[]): { offsets: Record<string, number>; total: number } {
  const offsets: Record<string, number> = {};
  let total = 0;
  for (const s of specs) {
    offsets[s.name] = total;
    total += s.shape.reduce((a, b) => a * b, 1);
  }
  return { offsets, total };
}

interface LayerSaved {
  x: number; In: number; h: number; c: number; gates: number; h0: number; c0: number;
}

/** What predictorForward keeps for predictorBackward (arena pointers; valid until the caller's reset). */
export interface PredictorSaved {
  B: number; U1: number; ids: number; emb: number; layers: LayerSaved[];
  lnMean: number; lnRstd: number; lnIn: number;
  /** The predictor's output [B, U1, H]. */
  out: number;
}

const LN_EPS = 1e-5;

/**
 * Forward over ids [B, U1] (i32 arena pointer) with zero initial state, or with (h0, c0) per layer
 * (pointers to [B, H]) when given. Allocates its activations in the arena.
 */
export function predictorForward(
  e: PredictorHost, cfg: PredictorConfig, params: number, ids: number, B: number, U1: number,
  state?: { h: number[]; c: number[] },
): PredictorSaved {
  const { embedDim: E, hidden: H } = cfg;
  const { offsets } = namedShapeOffsets(predictorParams(cfg));
  const p = (name: string) => params + 4 * offsets[name];
  const n = B * U1;
  const emb = e.alloc(n * E, "predictor embedding");
  e.wasm.embedding_forward(emb, ids, p("embedding"), n, E, E);
  const layers: LayerSaved[] = [];
  let x = emb, In = E;
  for (let l = 0; l < cfg.layers; l++) {
    const h = e.alloc(n * H, "predictor h"), c = e.alloc(n * H, "predictor c"), gates = e.alloc(n * 4 * H, "predictor gates");
    let h0 = state?.h[l], c0 = state?.c[l];
    if (h0 === undefined || c0 === undefined) {
      h0 = e.alloc(B * H);
      c0 = e.alloc(B * H);
      e.wasm.mem_zero_f32(h0, B * H);
      e.wasm.mem_zero_f32(c0, B * H);
    }
    e.wasm.lstm_forward(h, c, gates, x, p(`lstm${l}.w_ih`), p(`lstm${l}.w_hh`), p(`lstm${l}.b_ih`), p(`lstm${l}.b_hh`), h0, c0, B, U1, In, H, In);
    layers.push({ x, In, h, c, gates, h0, c0 });
    x = h;
    In = H;
  }
  let out = x, lnMean = 0, lnRstd = 0;
  if (cfg.layerNorm) {
    out = e.alloc(n * H, "predictor ln");
    lnMean = e.alloc(n);
    lnRstd = e.alloc(n);
    e.wasm.pred_layernorm_forward(out, lnMean, lnRstd, x, p("ln.gamma"), p("ln.beta"), n, H, LN_EPS);
  }
  return { B, U1, ids, emb, layers, lnMean, lnRstd, lnIn: x, out };
}

/**
 * Backward of predictorForward: accumulates into dparams (the flat gradient region, same layout as
 * params) from dout [B, U1, H]. Gradients of a carried initial state are dropped (decoding only).
 */
export function predictorBackward(e: Engine, cfg: PredictorConfig, params: number, dparams: number, saved: PredictorSaved, dout: number): void {
  const { embedDim: E, hidden: H } = cfg;
  const { offsets } = namedShapeOffsets(predictorParams(cfg));
  const p = (name: string) => params + 4 * offsets[name];
  const dp = (name: string) => dparams + 4 * offsets[name];
  const { B, U1 } = saved;
  const n = B * U1;
  e.scoped(() => {
    let dh = dout;
    if (cfg.layerNorm) {
      dh = e.alloc(n * H);
      e.wasm.mem_zero_f32(dh, n * H);
      e.wasm.pred_layernorm_backward(dh, dp("ln.gamma"), dp("ln.beta"), saved.lnMean, saved.lnRstd, dout, saved.lnIn, p("ln.gamma"), n, H);
    }
    const scratch = e.alloc(n * 4 * H + 2 * B * H, "LSTM backward scratch");
    const dstate = e.alloc(2 * B * H);
    for (let l = cfg.layers - 1; l >= 0; l--) {
      const s = saved.layers[l];
      const dx = e.alloc(n * s.In);
      e.wasm.mem_zero_f32(dx, n * s.In);
      e.wasm.mem_zero_f32(dstate, 2 * B * H);
      e.wasm.lstm_backward(
        dx, dp(`lstm${l}.w_ih`), dp(`lstm${l}.w_hh`), dp(`lstm${l}.b_ih`), dp(`lstm${l}.b_hh`), dstate, dstate + 4 * B * H,
        s.h, s.c, s.gates, dh, s.x, p(`lstm${l}.w_ih`), p(`lstm${l}.w_hh`), s.h0, s.c0, scratch, B, U1, s.In, H, s.In,
      );
      dh = dx;
    }
    e.wasm.embedding_backward(dp("embedding"), dh, saved.ids, n, E, E);
  });
}

/** Decoding state: per layer, h and c [B, H] (arena pointers). */
export interface PredictorState {
  h: number[];
  c: number[];
}

/** A zero state for B hypotheses, allocated in the arena. */
export function predictorZeroState(e: Engine, cfg: PredictorConfig, B: number): PredictorState {
  const mk = () => {
    const ptr = e.alloc(B * cfg.hidden);
    e.wasm.mem_zero_f32(ptr, B * cfg.hidden);
    return ptr;
  };
  return { h: Array.from({ length: cfg.layers }, mk), c: Array.from({ length: cfg.layers }, mk) };
}

/**
 * One decoding step: feeds ids [B] (i32 pointer) from `state`; returns the output [B, H] and the new
 * state (fresh arena allocations; `state` is left as it was). lstm_forward with T = 1.
 */
export function predictorStep(e: PredictorHost, cfg: PredictorConfig, params: number, ids: number, B: number, state: PredictorState): { out: number; state: PredictorState } {
  const saved = predictorForward(e, cfg, params, ids, B, 1, state);
  return { out: saved.out, state: { h: saved.layers.map((s) => s.h), c: saved.layers.map((s) => s.c) } };
}
