// Decoding's model interface for the transducer: the predictor + joiner of src/model/ as the
// `SearchModel` that the searches of src/decode/decode.ts advance.
//
// What it is: `engineSearchModel` over encoder output already in the arena, on any host with the
// predictor and joiner kernels (the training Engine or the inference build's InferHost), and
// `transducerSearchModel`, the same for a model config and its parameters by name (what Model.decode and
// todm/infer call). What it is not: the searches themselves (src/decode/), the encoder (encoder.ts).

import type { EngineExports } from "../engine/engine.js";
import type { ArenaExports, WasmHost } from "../wasm/host.js";
import { logSoftmaxRows, type SearchModel } from "../decode/decode.js";
import type { ModelConfig } from "./config.js";
import { joinerConfig, joinerPointers, type JoinerConfig } from "./joiner.js";
import { namedShapeOffsets, predictorConfig, predictorParams, predictorStep, type PredictorConfig, type PredictorHost } from "./predictor.js";

/** A SearchModel over encoder output that can be pointed at the next encoder output (a stream's chunk). */
export type EncoderSearchModel = SearchModel<EngineSearchState> & {
  /** Reads encoder output enc [B, T, Denc] (arena pointer; its projection is allocated in the caller's scope). */
  encoder(enc: number, B: number, T: number): void;
};

/** A host that can run engineSearchModel: the training Engine or the inference build's InferHost. */
export type SearchHost = PredictorHost & WasmHost<ArenaExports & Pick<EngineExports, "gemm" | "mem_copy_f32" | "joiner_pairs_forward">>;

/** A hypothesis' predictor state for the engine model: per layer h and c, and the projected output [J]. */
export interface EngineSearchState {
  h: Float32Array[];
  c: Float32Array[];
  proj: Float32Array;
}

/**
 * The engine's predictor + joiner as a SearchModel over encoder output enc [B, T, Denc] (arena
 * pointer; 0: none yet, see `encoder`). Allocates the projected encoder frames in the arena: call inside
 * `e.scoped`. Each call of the model copies its inputs in and results out within its own scope.
 */
export function engineSearchModel(
  e: SearchHost, pred: { cfg: PredictorConfig; params: number }, join: { cfg: JoinerConfig; params: number },
  enc: number, B: number, T: number, blank = 0,
): EncoderSearchModel {
  const { encDim, predDim, joinDim: J, vocab: V } = join.cfg;
  const H = pred.cfg.hidden, L = pred.cfg.layers;
  if (predDim !== H) throw new Error(`engineSearchModel: joiner predDim ${predDim} != predictor hidden ${H}`);
  if (pred.cfg.vocab !== V) throw new Error(`engineSearchModel: predictor vocab ${pred.cfg.vocab} != joiner vocab ${V}`);
  namedShapeOffsets(predictorParams(pred.cfg)); // validates the table
  const w = joinerPointers(join.cfg, join.params);
  let eProj = 0, frames = T;
  /** Projected encoder frames, once per encoder output: eProj [B*T, J] = enc W_enc^T + b_enc. */
  const encoder = (enc: number, B: number, T: number) => {
    eProj = e.alloc(B * T * J, "decoding encoder projection");
    frames = T;
    for (let r = 0; r < B * T; r++) e.wasm.mem_copy_f32(eProj + 4 * r * J, w["enc.bias"], J);
    e.wasm.gemm(0, 1, B * T, J, encDim, 1, enc, encDim, w["enc.weight"], encDim, 1, eProj, J);
  };
  if (enc) encoder(enc, B, T);

  /** Runs the predictor one step for n states and labels; returns the new states. */
  const step = (states: EngineSearchState[], labels: number[]): EngineSearchState[] =>
    e.scoped(() => {
      const n = states.length;
      const st = {
        h: Array.from({ length: L }, (_, l) => e.upload(concat(states.map((s) => s.h[l])))),
        c: Array.from({ length: L }, (_, l) => e.upload(concat(states.map((s) => s.c[l])))),
      };
      const r = predictorStep(e, pred.cfg, pred.params, e.upload(labels, "i32"), n, st);
      // Project the predictor output once per state: proj = out W_pred^T + b_pred.
      const proj = e.alloc(n * J);
      for (let i = 0; i < n; i++) e.wasm.mem_copy_f32(proj + 4 * i * J, w["pred.bias"], J);
      e.wasm.gemm(0, 1, n, J, H, 1, r.out, H, w["pred.weight"], predDim, 1, proj, J);
      const hs = r.state.h.map((p) => e.read(p, n * H)), cs = r.state.c.map((p) => e.read(p, n * H));
      const ps = e.read(proj, n * J);
      return Array.from({ length: n }, (_, i) => ({
        h: hs.map((a) => a.slice(i * H, (i + 1) * H)),
        c: cs.map((a) => a.slice(i * H, (i + 1) * H)),
        proj: ps.slice(i * J, (i + 1) * J),
      }));
    });

  const zero: EngineSearchState = { h: Array.from({ length: L }, () => new Float32Array(H)), c: Array.from({ length: L }, () => new Float32Array(H)), proj: new Float32Array(J) };
  const start = step([zero], [blank])[0]; // the predictor fed the blank as start symbol (as in training)

  return {
    vocab: V,
    blank,
    initial: () => start,
    advance: step,
    encoder,
    logProbs(utts, ts, states) {
      return e.scoped(() => {
        const n = states.length;
        const logits = e.alloc(n * V);
        e.wasm.joiner_pairs_forward(
          logits, eProj, e.upload(concat(states.map((s) => s.proj))), e.upload(utts.map((b, i) => b * frames + ts[i]), "i32"),
          w["out.weight"], w["out.bias"], e.alloc(n * J), n, J, V, J,
        );
        return logSoftmaxRows(e.read(logits, n * V), V);
      });
    },
  };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The search model of a transducer with config `cfg` whose parameters are in the arena (`param(name)`:
 * the pointer of a named tensor; the predictor and joiner blocks are contiguous from their first tensor).
 */
export function transducerSearchModel(e: SearchHost, cfg: ModelConfig, param: (name: string) => number, enc: number, B: number, T: number): EncoderSearchModel {
  return engineSearchModel(e, { cfg: predictorConfig(cfg), params: param("predictor.embedding.weight") },
    { cfg: joinerConfig(cfg), params: param("joiner.enc.weight") }, enc, B, T, 0);
}
