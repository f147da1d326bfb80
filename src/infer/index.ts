// todm/infer: speech recognition with a todm model in any JavaScript runtime that has WebAssembly
// SIMD (browsers, Web Workers, Node, Deno, Bun), on one thread, without shared memory.
//
//   import { Recognizer } from "todm/infer";
//   const rec = await Recognizer.load(modelBytes, { wasm: { simd: simdUrl, relaxed: relaxedUrl } });
//   const text = await rec.transcribe(samples, 16000);           // Float32Array in [-1, 1]
//   const s = rec.stream({ sampleRate: 16000 });                 // causal models only
//   for (const chunk of chunks) { s.accept(chunk); show(s.partial()); }
//   const final = s.finish();
//   // with an n-gram LM (todm lm's .tlm bytes): modified beam search with shallow fusion
//   const lmRec = await Recognizer.load(modelBytes, { wasm, lm: lmBytes, lmWeight: 0.3, beam: 4 });
//
// What it is: the embedding API over the inference build (wasm/todm-infer-*.wasm, assembly/infer.ts):
// the streaming state of one recognition (`Run`: fbank, encoder state, search), over the
// model of src/model/ (the encoder's kernel implementation, kernel_ops.ts; the predictor and joiner as
// a search model, search.ts) and the searches of src/decode/ (advanced frame by frame), for model files
// from src/model/io.ts: float32, or int8 (`todm export --int8`: the encoder's linear layers run on int8
// weights with gemm_i8_forward; the predictor and joiner are dequantised to f32 at load).
// With `lm` (a .tlm file, src/lm/format.ts, checked against the model's tokenizer): modified beam search
// with shallow fusion (src/decode/decode.ts, as Model.decode with the same FusionOptions; beam 1
// included). The LM is data scored in TypeScript (src/lm/ngram.ts): the WebAssembly does not grow.
// Its weight defaults to the one `todm export` recorded in the model's `todm.lm` metadata
// (docs/model-format.md), else DEFAULT_LM_WEIGHT.
// What it is not: the model's math (src/model/), training, file or audio-format access (the caller
// decodes audio; src/infer/node.ts reads files in Node), or resampling of streams (pass audio at 16 kHz, e.g. an AudioContext created
// with { sampleRate: 16000 }; transcribe() resamples whole signals itself).
// Browser-safe by construction: this module graph imports no node: module (test/infer.test.ts checks
// the emitted files).

import { resample } from "../audio/resample.js";
import { FbankStream } from "../engine/features.js";
import { BeamSearch, GreedySearch, type FusionOptions, type Hypothesis } from "../decode/decode.js";
import { NgramLm } from "../lm/ngram.js";
import type { SubnetSpec } from "../model/config.js";
import { subnetName } from "../model/config.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { encodeChunk, EncoderState } from "../model/kernel_ops.js";
import { transducerSearchModel, type EncoderSearchModel, type EngineSearchState } from "../model/search.js";
import { loadModelInto, MODEL_SAMPLE_RATE, type LoadedModel } from "./model.js";
import { compileInfer, InferError, InferHost, type InferBuildName, type WasmOption } from "./wasm.js";

export { InferError, type WasmOption, type WasmSource, type InferBuildName } from "./wasm.js";
export { MODEL_SAMPLE_RATE } from "./model.js";
export { LmFileError } from "../lm/format.js";
export type { Hypothesis } from "../decode/decode.js";
export type { ModelConfig, SubnetSpec } from "../model/config.js";

export interface RecognizerOptions {
  /** The inference WebAssembly: bytes, a URL, a Response or a Module; or { simd, relaxed } to pick at load. */
  wasm: WasmOption;
  /** Run a subnet of a Supernet file: a name like "L4-ff384-h2" or a SubnetSpec (default: the file's todm.subnet, else the whole model). */
  subnet?: SubnetSpec | string;
  /** Modified beam search with this many hypotheses; 1 = greedy search (Default: 1). */
  beam?: number;
  /** Names the model in error messages (Default: "<model bytes>"). */
  source?: string;
  /**
   * An n-gram LM file's bytes (`todm lm`, .tlm) over the model's tokenizer: decoding becomes modified
   * beam search (`beam` hypotheses, 1 included) with shallow fusion. A truncated, foreign, future-version
   * or other-tokenizer file throws an LmFileError.
   */
  lm?: Uint8Array | ArrayBuffer;
  /** The LM weight λ: score + λ·ln P_LM(token | history) (Default: the model's `todm.lm` weight, else 0.3). */
  lmWeight?: number;
  /** Also add λ·ln P_LM(</s>) when choosing the final hypothesis (Default: the model's `todm.lm` endOfSentence, else false). */
  lmEndOfSentence?: boolean;
  /** Names the LM in error messages (Default: "<lm bytes>"). */
  lmSource?: string;
}

/** The LM weight when neither the caller nor the model's `todm.lm` metadata gives one (as todm transcribe). */
export const DEFAULT_LM_WEIGHT = 0.3;

/** The model metadata key `todm.lm` (written by todm export): where the LM sidecar is and its weight. */
export interface ModelLmInfo {
  /** The LM file's name, beside the model file. */
  file: string;
  weight: number;
  endOfSentence?: boolean;
}

/** The `todm.lm` entry of a model's metadata, or null; a malformed entry throws naming `source`. */
export function modelLmInfo(metadata: Record<string, string>, source: string): ModelLmInfo | null {
  const raw = metadata["todm.lm"];
  if (raw === undefined) return null;
  let v: ModelLmInfo;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new InferError(`${source}: metadata todm.lm is not JSON`);
  }
  if (!(v && typeof v.file === "string" && v.file.length > 0 && Number.isFinite(v.weight) && v.weight >= 0)) {
    throw new InferError(`${source}: metadata todm.lm needs {"file": NAME, "weight": W >= 0}, got ${raw}`);
  }
  return v;
}

export interface StreamOptions {
  /** Sample rate of the chunks; must be the model's (16000 Hz). */
  sampleRate: number;
  /**
   * Audio gathered before the encoder runs, in milliseconds (Default: 160, four encoder frames). Each run
   * streams every weight of the model from memory once, so tiny chunks (an AudioWorklet posts 8 ms)
   * would cost far more per second of audio; 0 runs the encoder on every accept(). The transcript
   * does not depend on it, only the latency and the compute do.
   */
  batchMs?: number;
}

/** A loaded model on its own instance of the inference build. */
export class Recognizer {
  private constructor(
    private readonly host: InferHost,
    private readonly model: LoadedModel,
    private readonly beam: number,
    private readonly fusion: FusionOptions<number> | undefined,
    private readonly source: string,
  ) {}

  /** Loads model bytes (a .safetensors file's contents) into a fresh instance of the inference build. */
  static async load(modelBytes: Uint8Array | ArrayBuffer, opts: RecognizerOptions): Promise<Recognizer> {
    const beam = opts.beam ?? 1;
    if (!(Number.isInteger(beam) && beam >= 1)) throw new InferError(`beam must be an integer >= 1, got ${opts.beam}`);
    const { module, build } = await compileInfer(opts.wasm);
    const host = await InferHost.instantiate(module, build);
    const bytes = modelBytes instanceof Uint8Array ? modelBytes : new Uint8Array(modelBytes);
    const source = opts.source ?? "<model bytes>";
    const model = loadModelInto(host, bytes, opts.subnet, source);
    let fusion: FusionOptions<number> | undefined;
    if (opts.lm !== undefined) {
      const info = modelLmInfo(model.metadata, source);
      const weight = opts.lmWeight ?? info?.weight ?? DEFAULT_LM_WEIGHT;
      if (!(Number.isFinite(weight) && weight >= 0)) throw new InferError(`lmWeight must be a number >= 0, got ${opts.lmWeight}`);
      const lmBytes = opts.lm instanceof Uint8Array ? opts.lm : new Uint8Array(opts.lm);
      const lm = NgramLm.fromBytes(lmBytes, opts.lmSource ?? "<lm bytes>", model.tokenizer);
      fusion = { lm, weight, endOfSentence: opts.lmEndOfSentence ?? info?.endOfSentence ?? false };
    } else if (opts.lmWeight !== undefined) throw new InferError("lmWeight goes with lm (the LM file's bytes)");
    return new Recognizer(host, model, beam, fusion, source);
  }

  /** The LM in use (shallow fusion), or null: its weight and order. */
  get lm(): { weight: number; order: number; endOfSentence: boolean } | null {
    const f = this.fusion;
    return f ? { weight: f.weight, order: (f.lm as NgramLm).order, endOfSentence: !!f.endOfSentence } : null;
  }

  /** The model's `todm.lm` metadata (the LM sidecar todm export wrote and its weight), or null. */
  get lmInfo(): ModelLmInfo | null {
    return modelLmInfo(this.model.metadata, this.source);
  }

  /** Which build runs: "relaxed-simd" or "simd". */
  get build(): InferBuildName {
    return this.host.build;
  }

  get config() {
    return { ...this.model.cfg };
  }

  get subnet(): SubnetSpec {
    return { ...this.model.sub };
  }

  /** A readable name of the running subnet, e.g. "L6-ff576-h4". */
  get subnetName(): string {
    return subnetName(this.model.sub);
  }

  get tokenizer(): Tokenizer {
    return this.model.tokenizer;
  }

  /** Whether the model can stream (a causal encoder). */
  get causal(): boolean {
    return this.model.cfg.causal;
  }

  /** Bytes of model weights in WebAssembly memory: f32 parameters plus, for an int8 file, the int8 encoder weights and their scales. */
  get weightBytes(): number {
    return 4 * this.model.floats + this.model.int8Bytes;
  }

  /** Bytes of WebAssembly memory the instance holds. */
  get memoryBytes(): number {
    return this.host.memoryBytes;
  }

  /** The transcript of a whole utterance (samples in [-1, 1], any sample rate: resampled to 16 kHz). */
  async transcribe(samples: Float32Array | ArrayLike<number>, sampleRate: number): Promise<string> {
    return this.recognize(samples, sampleRate).text;
  }

  /** Like transcribe, with the token ids and the encoder frame (40 ms each) of each token. */
  recognize(samples: Float32Array | ArrayLike<number>, sampleRate: number): { text: string; tokens: number[]; frames: number[] } {
    let x = samples instanceof Float32Array ? samples : Float32Array.from(samples);
    if (!(sampleRate > 0)) throw new InferError(`sampleRate must be positive, got ${sampleRate}`);
    if (sampleRate !== MODEL_SAMPLE_RATE) x = resample(x, sampleRate, MODEL_SAMPLE_RATE);
    const run = new Run(this.host, this.model, this.beam, this.fusion);
    // A causal encoder gives the same frames for any chunking: feed 2.56 s (64 encoder frames) at a
    // time, so memory stays bounded for long audio. Measured on the default model (one thread, 10 s):
    // 2.56 s pieces ran 10-15% faster than one 10 s piece (the im2col buffer stays in cache) and 3x
    // faster than 160 ms pieces (small row counts stream every weight from memory per piece).
    // A non-causal encoder needs the whole utterance in one call.
    const step = this.model.cfg.causal ? 40960 : Math.max(1, x.length);
    for (let i = 0; i < x.length; i += step) run.accept(x.subarray(i, i + step));
    return run.result();
  }

  /**
   * The encoder output [frames, dModel] of 16 kHz samples (what the joiner's encoder projection reads), a
   * fresh copy: for tests and analysis. Fed in `chunk`-sample pieces when given (a causal model only).
   */
  encoderOutput(samples: Float32Array, chunk?: number): { data: Float32Array; frames: number } {
    const run = new Run(this.host, this.model, 1), d = this.model.cfg.dModel;
    const step = chunk && this.model.cfg.causal ? chunk : Math.max(1, samples.length);
    const parts: Float32Array[] = [];
    for (let i = 0; i < samples.length; i += step) run.encode(samples.subarray(i, i + step), (enc, n) => parts.push(this.host.read(enc, n * d)));
    const data = concat(parts);
    return { data, frames: data.length / d };
  }

  /** A stream over 16 kHz chunks; refused for a non-causal model. */
  stream(opts: StreamOptions): RecognizerStream {
    if (!this.model.cfg.causal) {
      throw new InferError(
        `this model cannot stream: its encoder is non-causal (bidirectional SSM${this.model.cfg.convKernel ? ", centred convolution" : ""}, ` +
          `unpadded subsampling), so every frame depends on the end of the utterance. Use transcribe(), or a model trained with causal: true`,
      );
    }
    if (opts?.sampleRate !== MODEL_SAMPLE_RATE) {
      throw new InferError(`stream: chunks must be ${MODEL_SAMPLE_RATE} Hz audio, got sampleRate ${opts?.sampleRate} (resample first, e.g. new AudioContext({ sampleRate: 16000 }))`);
    }
    const batchMs = opts.batchMs ?? 160;
    if (!(batchMs >= 0)) throw new InferError(`stream: batchMs must be >= 0, got ${opts.batchMs}`);
    return new RecognizerStream(new Run(this.host, this.model, this.beam, this.fusion), Math.round((batchMs / 1000) * MODEL_SAMPLE_RATE));
  }
}

/** A streaming recognition: feed chunks, read partial transcripts, finish. */
export class RecognizerStream {
  private finished = false;
  private held: Float32Array[] = [];
  private heldSamples = 0;

  /** @internal */
  constructor(private readonly run: Run, private readonly batchSamples: number) {}

  /**
   * Feeds a chunk of samples (16 kHz, [-1, 1]). Once `batchMs` of audio has gathered, computes every
   * encoder frame the audio so far completes and advances the search over them.
   */
  accept(chunk: Float32Array | ArrayLike<number>): void {
    if (this.finished) throw new InferError("stream: accept() after finish()");
    const x = chunk instanceof Float32Array ? chunk.slice() : Float32Array.from(chunk); // the caller may reuse its buffer
    this.held.push(x);
    this.heldSamples += x.length;
    if (this.heldSamples >= this.batchSamples) this.flush();
  }

  private flush(): void {
    if (this.heldSamples === 0) return;
    const all = concat(this.held);
    this.held = [];
    this.heldSamples = 0;
    this.run.accept(all);
  }

  /** The transcript so far (the best hypothesis over the frames computed). */
  partial(): string {
    return this.run.result().text;
  }

  /** Seconds of audio whose encoder frames have been decoded (40 ms per frame). */
  get decodedSeconds(): number {
    return this.run.frames * 0.04;
  }

  /**
   * The final transcript: the audio still gathered is computed; a causal encoder has no lookahead, so
   * only a partial last fbank frame is left (dropped, as Kaldi's snip_edges does).
   */
  finish(): string {
    return this.finishResult().text;
  }

  /** The final result with token ids and the encoder frame of each token. */
  finishResult(): { text: string; tokens: number[]; frames: number[] } {
    if (!this.finished) this.flush();
    this.finished = true;
    return this.run.result();
  }
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}

/** One utterance in progress: fbank, encoder and search state. */
class Run {
  private readonly fbank: FbankStream;
  private readonly enc: EncoderState;
  private readonly sm: EncoderSearchModel;
  private readonly search: GreedySearch<EngineSearchState> | BeamSearch<EngineSearchState>;
  frames = 0;

  constructor(private readonly host: InferHost, private readonly m: LoadedModel, beam: number, fusion?: FusionOptions<number>) {
    this.fbank = new FbankStream(host, MODEL_SAMPLE_RATE, m.cfg.featDim);
    this.enc = new EncoderState(m);
    this.sm = transducerSearchModel(host, m.cfg, m.ptr, 0, 1, 0);
    this.search = beam > 1 || fusion ? new BeamSearch(this.sm, 1, { beam, fusion }) : new GreedySearch(this.sm, 1);
  }

  /** Fbank and the encoder over new samples; `use` gets the encoder frames they complete (in the arena, during the call). */
  encode(samples: Float32Array, use: (enc: number, frames: number) => void): void {
    const { host, m } = this;
    host.scoped(() => {
      const f = this.fbank.accept(samples);
      if (f.frames === 0) return;
      const { enc, frames } = encodeChunk(host, m, this.enc, f.data);
      if (frames > 0) use(enc, frames);
    });
  }

  accept(samples: Float32Array): void {
    this.encode(samples, (enc, frames) => {
      this.sm.encoder(enc, 1, frames);
      for (let t = 0; t < frames; t++) this.search.frame([0], t, this.frames + t);
      this.frames += frames;
    });
  }

  result(): { text: string; tokens: number[]; frames: number[] } {
    const h: Hypothesis = this.search instanceof GreedySearch ? this.search.hyps[0] : this.search.best()[0];
    return { text: this.m.tokenizer.decode(h.tokens), tokens: [...h.tokens], frames: [...h.frames] };
  }
}
