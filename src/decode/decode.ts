// RNN-T decoding over encoder output, batched: greedy search and modified beam search.
//
// What it is: host-side searches written against a small model interface (`SearchModel`), so the same
// code runs the transducer's predictor + joiner (src/model/search.ts `engineSearchModel`, on the training
// engine or the inference build) or a stub given as tables (tests). It imports nothing of the model.
// Each search step makes one batched call for all live hypotheses of all utterances.
//   - greedySearch: per frame, emit argmax labels until blank or `maxSymPerFrame` symbols (default 1,
//     icefall's greedy_search_batch); reaching the cap moves to the next frame without a blank.
//   - modifiedBeamSearch: icefall beam_search.py `modified_beam_search`: one symbol at most per frame;
//     per utterance keep the `beam` (default 4) best (hypothesis, token) candidates by total log-prob,
//     merge hypotheses with equal label sequences by log-add; the result is the most probable one
//     (no length normalisation).
//     With `fusion` (shallow fusion, icefall `modified_beam_search_lm_shallow_fusion`): each non-blank
//     token k adds `weight * ln P_LM(k | history)` to the candidate's score; each hypothesis carries its
//     LM state; hypotheses are still merged by equal label sequences (the LM state is a function of the
//     label sequence, so merged hypotheses have equal LM states too); with `endOfSentence`, the final
//     choice adds `weight * ln P_LM(</s> | history)`. Hypothesis.logProb is then the fused score.
//     With `lodr` (low-order density ratio, as icefall's LODR): a second, low-order LM (a bigram of the
//     training text) is subtracted the same way, `- lodr.weight * ln P_low(k | history)`, to take out
//     the transducer's own internal LM; its state rides along like the first.
//   Both record the encoder frame at which each token was emitted (`Hypothesis.frames`).
//   GreedySearch / BeamSearch are the same searches advanced one frame per call, for streams (src/infer/).
// What it is not: rescoring, fast_beam_search (k2). The LM itself is src/lm/ (any FusionLm will do).
// Reference: icefall egs/librispeech/ASR/zipformer/beam_search.py (read, not copied).


/** What a search needs from a transducer, batched over hypotheses. S is one hypothesis' predictor state. */
export interface SearchModel<S> {
  vocab: number;
  blank: number;
  /** The state of an empty hypothesis (the predictor fed its start symbol), for utterance b. */
  initial(b: number): S;
  /** Feeds labels[i] to states[i]; returns new states (the inputs stay valid). */
  advance(states: S[], labels: number[]): S[];
  /** Log-probabilities [n, V] over the vocabulary for (utterance, frame, state) triples. */
  logProbs(utts: number[], frames: number[], states: S[]): Float32Array;
}

/** A language model for shallow fusion over the transducer's token ids (blank excluded); L is its state. */
export interface FusionLm<L> {
  /** The state at the start of an utterance (after <s>). */
  initial(): L;
  /** ln P_LM(k | state), indexable by token id k (the blank's entry is never read). */
  logProbs(state: L): ArrayLike<number>;
  advance(state: L, token: number): L;
  /** ln P_LM(</s> | state). */
  endLogProb(state: L): number;
}

export interface FusionOptions<L = unknown> {
  lm: FusionLm<L>;
  /** λ in score + λ·ln P_LM(token | history). */
  weight: number;
  /** Add λ·ln P_LM(</s> | history) when choosing the final hypothesis (Default: false; with lodr, its </s> is subtracted too). */
  endOfSentence?: boolean;
  /** LODR: a low-order LM whose score is subtracted, `- weight·ln P_low(token | history)`. */
  lodr?: { lm: FusionLm<L>; weight: number };
}

export interface Hypothesis {
  tokens: number[];
  /**
   * Encoder frame at which each token was emitted (same length as tokens, non-decreasing). For a beam
   * hypothesis merged from several alignments, the frames of the best-scoring one at each merge.
   */
  frames: number[];
  /** Log-probability: of the chosen path (greedy), or of the merged hypothesis (beam). */
  logProb: number;
}

function argmax(a: Float32Array, off: number, n: number): number {
  let best = 0;
  for (let k = 1; k < n; k++) if (a[off + k] > a[off + best]) best = k;
  return best;
}

/** Greedy search for utterances with `lengths[b]` frames each. */
export function greedySearch<S>(model: SearchModel<S>, lengths: ArrayLike<number>, opts: { maxSymPerFrame?: number } = {}): Hypothesis[] {
  const search = new GreedySearch(model, lengths.length, opts);
  const T = Math.max(0, ...Array.from(lengths));
  for (let t = 0; t < T; t++) search.frame(Array.from({ length: lengths.length }, (_, b) => b).filter((b) => t < lengths[b]), t);
  return search.hyps;
}

/**
 * Greedy search advanced one encoder frame at a time (what greedySearch loops over), so that a stream
 * can feed frames as they come: the hypotheses and predictor states are carried between calls.
 */
export class GreedySearch<S> {
  readonly hyps: Hypothesis[];
  private readonly states: S[];
  private readonly maxSym: number;

  constructor(private readonly model: SearchModel<S>, B: number, opts: { maxSymPerFrame?: number } = {}) {
    this.maxSym = opts.maxSymPerFrame ?? 1;
    if (!(this.maxSym >= 1)) throw new Error(`greedySearch: maxSymPerFrame must be >= 1, got ${this.maxSym}`);
    this.hyps = Array.from({ length: B }, () => ({ tokens: [], frames: [], logProb: 0 }));
    this.states = Array.from({ length: B }, (_, b) => model.initial(b));
  }

  /**
   * Searches frame `t` of the utterances `live` (the model's frame index); `at` is the frame number
   * recorded in Hypothesis.frames (default t; a stream passes its running count).
   */
  frame(live: number[], t: number, at = t): void {
    const { model, hyps, states } = this, V = model.vocab;
    for (let sym = 0; sym < this.maxSym && live.length > 0; sym++) {
      const lp = model.logProbs(live, live.map(() => t), live.map((b) => states[b]));
      const emit: number[] = [], labels: number[] = [];
      live.forEach((b, i) => {
        const k = argmax(lp, i * V, V);
        hyps[b].logProb += lp[i * V + k];
        if (k !== model.blank) {
          hyps[b].tokens.push(k);
          hyps[b].frames.push(at);
          emit.push(b);
          labels.push(k);
        }
      });
      if (emit.length) model.advance(emit.map((b) => states[b]), labels).forEach((s, i) => (states[emit[i]] = s));
      live = emit;
    }
  }
}

interface BeamHyp<S> {
  tokens: number[];
  frames: number[];
  logProb: number;
  state: S;
  /** The LM state (fusion only). */
  lmState?: unknown;
  /** The LODR LM's state (fusion with lodr only). */
  lodrState?: unknown;
}

export interface BeamOptions {
  beam?: number;
  /** Shallow fusion with an LM (its state type is the LM's own business). */
  fusion?: FusionOptions<any>;
}

const logAddExp = (a: number, b: number) => {
  const m = Math.max(a, b);
  return m === -Infinity ? m : m + Math.log(Math.exp(a - m) + Math.exp(b - m));
};

/** Modified beam search (one symbol per frame at most), `beam` hypotheses per utterance (default 4). */
export function modifiedBeamSearch<S>(model: SearchModel<S>, lengths: ArrayLike<number>, opts: BeamOptions = {}): Hypothesis[] {
  const search = new BeamSearch(model, lengths.length, opts);
  const T = Math.max(0, ...Array.from(lengths));
  for (let t = 0; t < T; t++) search.frame(Array.from({ length: lengths.length }, (_, b) => b).filter((b) => t < lengths[b]), t);
  return search.best();
}

/** Modified beam search advanced one encoder frame at a time (what modifiedBeamSearch loops over). */
export class BeamSearch<S> {
  private readonly beams: BeamHyp<S>[][];
  private readonly beam: number;
  private readonly fusion?: FusionOptions<unknown>;

  constructor(private readonly model: SearchModel<S>, B: number, opts: BeamOptions = {}) {
    this.beam = opts.beam ?? 4;
    if (!(this.beam >= 1)) throw new Error(`modifiedBeamSearch: beam must be >= 1, got ${this.beam}`);
    this.fusion = opts.fusion;
    if (this.fusion && !Number.isFinite(this.fusion.weight)) throw new Error(`modifiedBeamSearch: LM weight must be a finite number, got ${this.fusion.weight}`);
    if (this.fusion?.lodr && !Number.isFinite(this.fusion.lodr.weight)) throw new Error(`modifiedBeamSearch: LODR weight must be a finite number, got ${this.fusion.lodr.weight}`);
    const lm0 = this.fusion?.lm.initial(), lodr0 = this.fusion?.lodr?.lm.initial();
    this.beams = Array.from({ length: B }, (_, b) => [{ tokens: [], frames: [], logProb: 0, state: model.initial(b), lmState: lm0, lodrState: lodr0 }]);
  }

  /** Searches frame `t` (the model's index) of the utterances `live`; `at` is recorded in frames (default t). */
  frame(live: number[], t: number, at = t): void {
    const { model, beams, beam, fusion } = this, V = model.vocab, blank = model.blank;
    const flat = live.flatMap((b) => beams[b].map((h) => ({ b, h })));
    const lp = model.logProbs(flat.map((x) => x.b), flat.map(() => t), flat.map((x) => x.h.state));
    const toAdvance: { hyp: BeamHyp<S>; from: S; label: number }[] = [];
    let row = 0;
    for (const b of live) {
      // All (hypothesis, token) candidates of this utterance; keep the `beam` best.
      const cands: { i: number; k: number; score: number }[] = [];
      beams[b].forEach((h, i) => {
        if (fusion?.lodr) {
          const lm = fusion.lm.logProbs(h.lmState), w = fusion.weight;
          const low = fusion.lodr.lm.logProbs(h.lodrState), wl = fusion.lodr.weight;
          for (let k = 0; k < V; k++) cands.push({ i, k, score: h.logProb + lp[(row + i) * V + k] + (k === blank ? 0 : w * lm[k] - wl * low[k]) });
        } else if (fusion) {
          const lm = fusion.lm.logProbs(h.lmState), w = fusion.weight;
          for (let k = 0; k < V; k++) cands.push({ i, k, score: h.logProb + lp[(row + i) * V + k] + (k === blank ? 0 : w * lm[k]) });
        } else {
          for (let k = 0; k < V; k++) cands.push({ i, k, score: h.logProb + lp[(row + i) * V + k] });
        }
      });
      cands.sort((x, y) => y.score - x.score || x.i - y.i || x.k - y.k);
      const next = new Map<string, BeamHyp<S>>();
      for (const c of cands.slice(0, beam)) {
        const h = beams[b][c.i];
        const tokens = c.k === model.blank ? h.tokens : [...h.tokens, c.k];
        const frames = c.k === model.blank ? h.frames : [...h.frames, at];
        const key = tokens.join(",");
        const old = next.get(key);
        if (old) {
          old.logProb = logAddExp(old.logProb, c.score); // candidates come best first: `old` keeps its frames
        } else {
          const emits = fusion && c.k !== model.blank;
          const lmState = emits ? fusion.lm.advance(h.lmState, c.k) : h.lmState;
          const lodrState = emits && fusion.lodr ? fusion.lodr.lm.advance(h.lodrState, c.k) : h.lodrState;
          const hyp: BeamHyp<S> = { tokens, frames, logProb: c.score, state: h.state, lmState, lodrState };
          if (c.k !== model.blank) toAdvance.push({ hyp, from: h.state, label: c.k });
          next.set(key, hyp);
        }
      }
      row += beams[b].length;
      beams[b] = [...next.values()];
    }
    if (toAdvance.length) {
      model.advance(toAdvance.map((x) => x.from), toAdvance.map((x) => x.label)).forEach((s, i) => (toAdvance[i].hyp.state = s));
    }
  }

  /** The most probable hypothesis of each utterance so far (with fusion's endOfSentence: </s> added). */
  best(): Hypothesis[] {
    const f = this.fusion;
    const final = (h: BeamHyp<S>) =>
      h.logProb + (f?.endOfSentence ? f.weight * f.lm.endLogProb(h.lmState) - (f.lodr ? f.lodr.weight * f.lodr.lm.endLogProb(h.lodrState) : 0) : 0);
    return this.beams.map((hs) => {
      let best = hs[0], bestScore = final(best);
      for (const h of hs.slice(1)) {
        const s = final(h);
        if (s > bestScore) [best, bestScore] = [h, s];
      }
      return { tokens: best.tokens, frames: best.frames, logProb: bestScore };
    });
  }
}

/** In-place log-softmax of each V-wide row (float64 accumulation). */
export function logSoftmaxRows(a: Float32Array, V: number): Float32Array {
  for (let o = 0; o < a.length; o += V) {
    let m = -Infinity;
    for (let k = 0; k < V; k++) m = Math.max(m, a[o + k]);
    let s = 0;
    for (let k = 0; k < V; k++) s += Math.exp(a[o + k] - m);
    const ln = m + Math.log(s);
    for (let k = 0; k < V; k++) a[o + k] -= ln;
  }
  return a;
}
