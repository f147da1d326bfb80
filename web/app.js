// The demo page's logic: load a model into a Recognizer (todm/infer), then stream a WAV file or the
// microphone through it and show partial and final transcripts, the real-time factor and load time.
//
// Plain ES module, no bundler: it imports the package's built files through relative URLs, so the
// page works wherever the package root is served (`todm serve`, or any static server there).
// Not here: threads (one thread, the page's own), model training or conversion. The WAV reader and
// the resampler are the package's own (src/audio/wav.ts, src/audio/resample.ts, browser-safe), so the
// page turns a file into exactly the 16 kHz samples `todm transcribe` reads. Streams take 16 kHz
// only: a file at another rate is resampled whole first, and the microphone's AudioContext runs at
// 16 kHz (the browser resamples the device).
//
// What the page measures, in window.todmDemo (read by test/web-e2e.test.ts and bench/web.ts):
//   loadMs        model bytes in hand -> Recognizer ready (WASM fetch + compile + model load)
//   build         the WASM build the Recognizer picked ("relaxed-simd" where the browser has it)
//   memoryBytes   the Recognizer's WebAssembly memory after the last run
//   lm            the LM in use, { name, order, weight }, or null
//   result        { mode, final, partials[], audioSeconds, computeMs, rtf, firstResultMs }
//     computeMs   time spent inside accept/partial/finish (or transcribe), not waiting for the UI
//                 nor reading and resampling a file
//     rtf         computeMs / 1000 / audioSeconds (below 1 is faster than real time)
//     firstResultMs  compute from the start of the run to the first partial() (the whole
//                    transcript for a model that cannot stream)
//
// A language model (optional): the second file input takes a `.tlm` file (`todm lm`; `todm export`
// writes the model's own beside it as NAME.lm.tlm and names it in the model's `todm.lm` metadata, which
// the page shows). The Recognizer is then reloaded with it: modified beam search with shallow fusion,
// at the weight the model records (else 0.3). URL parameters: `?beam=N` (Default: 1), `?lm-weight=W`,
// `?model=URL` (what `todm serve --model FILE` links to): the page fetches the model, then the LM its
// todm.lm names from the same folder if the server has it.

import { MODEL_SAMPLE_RATE, Recognizer } from "../dist/infer/index.js";
import { readWav } from "../dist/audio/wav.js";
import { resample } from "../dist/audio/resample.js";

/** A WAV file is fed in chunks of this many seconds, as a microphone would deliver it. */
const CHUNK_SECONDS = 0.1;

const $ = (id) => document.getElementById(id);
const demo = { build: null, loadMs: null, memoryBytes: null, model: null, lm: null, result: null, error: null, runs: 0 };
window.todmDemo = demo;

let recognizer = null;
let mic = null;
/** The chosen model and LM files: { name, bytes } (the LM: or null). */
let modelFile = null, lmFile = null;

function setState(state, message, isError = false) {
  document.body.dataset.state = state;
  const s = $("status");
  s.textContent = message;
  if (isError) s.dataset.error = "";
  else delete s.dataset.error;
}

function fail(e) {
  const message = e instanceof Error ? e.message : String(e);
  $("partial").textContent = $("final").textContent = "";
  demo.error = message;
  setState("error", `Error: ${message}`, true);
  console.error(e);
}

function showNumbers(r) {
  $("audio-seconds").textContent = `${r.audioSeconds.toFixed(2)} s`;
  $("compute-ms").textContent = `${r.computeMs.toFixed(0)} ms`;
  $("rtf").textContent = r.audioSeconds > 0 ? r.rtf.toFixed(3) : "–";
}

/**
 * Both builds for Recognizer.load, which uses relaxed SIMD where the browser validates it (Chrome,
 * Firefox) and plain SIMD elsewhere. `?build=simd` in the page's URL offers plain SIMD only (to
 * compare the two builds).
 */
function wasmOption() {
  const base = new URL("../wasm/", import.meta.url);
  const simd = new URL("todm-infer-simd.wasm", base);
  if (new URLSearchParams(location.search).get("build") === "simd") return { simd };
  return { simd, relaxed: new URL("todm-infer-relaxed.wasm", base) };
}

async function loadModel(file) {
  modelFile = { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
  lmFile = null;
  await loadRecognizer();
}

async function loadLm(file) {
  if (!modelFile) throw new Error("choose a model file first");
  lmFile = { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
  await loadRecognizer();
}

/** Fetches a model from a URL, then its own LM (todm.lm) from beside it if the server has it. */
async function loadFromUrl(url) {
  setState("loading", `Fetching ${url.pathname} ...`);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}`);
  modelFile = { name: decodeURIComponent(url.pathname.split("/").pop()), bytes: new Uint8Array(await res.arrayBuffer()) };
  lmFile = null;
  await loadRecognizer();
  const own = recognizer.lmInfo;
  if (!own) return;
  const lmRes = await fetch(new URL(encodeURIComponent(own.file), url));
  if (!lmRes.ok) return; // the page says the model has an LM; the user may choose it
  lmFile = { name: own.file, bytes: new Uint8Array(await lmRes.arrayBuffer()) };
  await loadRecognizer();
}

/** (Re)loads the Recognizer with the chosen model and, if any, LM. */
async function loadRecognizer() {
  stopMic();
  recognizer = null;
  demo.lm = null;
  $("wav-file").disabled = $("mic-start").disabled = $("lm-file").disabled = true;
  setState("loading", `Loading ${modelFile.name}${lmFile ? ` with the LM ${lmFile.name}` : ""} ...`);
  const modelBytes = modelFile.bytes;
  const t0 = performance.now();
  const params = new URLSearchParams(location.search);
  // `?subnet=L2-ff192-h2` runs that subnet of a Supernet file (default: the file's own, else the whole model).
  const subnet = params.get("subnet") ?? undefined;
  const beam = params.has("beam") ? Number(params.get("beam")) : undefined;
  const lm = lmFile ? { lm: lmFile.bytes, lmSource: lmFile.name, lmWeight: params.has("lm-weight") ? Number(params.get("lm-weight")) : undefined } : {};
  recognizer = await Recognizer.load(modelBytes, { wasm: wasmOption(), source: modelFile.name, subnet, beam, ...lm });
  demo.loadMs = performance.now() - t0;
  demo.build = recognizer.build;
  demo.memoryBytes = recognizer.memoryBytes;
  demo.model = { name: modelFile.name, bytes: modelBytes.length, subnet: recognizer.subnetName, causal: recognizer.causal };
  demo.lm = recognizer.lm ? { name: lmFile.name, order: recognizer.lm.order, weight: recognizer.lm.weight } : null;
  $("load-ms").textContent = `${demo.loadMs.toFixed(0)} ms`;
  $("build").textContent = recognizer.build;
  $("model-info").textContent = `${modelFile.name}, ${(modelBytes.length / 1024).toFixed(0)} KiB, ${recognizer.subnetName}, ` +
    (recognizer.causal ? "causal (streams)" : "non-causal (no partial results: transcribes whole audio)");
  const own = recognizer.lmInfo;
  $("lm-info").textContent = demo.lm
    ? `${lmFile.name} (${(lmFile.bytes.length / 1024).toFixed(0)} KiB, order ${demo.lm.order}), weight ${demo.lm.weight}: beam search with shallow fusion`
    : own ? `This model comes with an LM: choose ${own.file} (weight ${own.weight}).` : "No LM (optional).";
  $("wav-file").disabled = $("mic-start").disabled = $("lm-file").disabled = false;
  setState("ready", "Model loaded. Choose a WAV file or start the microphone.");
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Feeds samples through a stream in CHUNK_SECONDS chunks, showing partials; returns the run's record. */
async function runSamples(samples, sampleRate) {
  const r = { mode: "stream", final: "", partials: [], audioSeconds: samples.length / sampleRate, computeMs: 0, rtf: 0, firstResultMs: null };
  $("partial").textContent = $("final").textContent = "";
  if (!recognizer.causal) {
    r.mode = "whole";
    setState("running", "This model cannot stream (it is not causal): transcribing the whole file ...");
    const t0 = performance.now();
    r.final = await recognizer.transcribe(samples, sampleRate);
    r.computeMs = r.firstResultMs = performance.now() - t0;
  } else {
    const s = recognizer.stream({ sampleRate });
    const chunk = Math.max(1, Math.round(CHUNK_SECONDS * sampleRate));
    for (let at = 0; at < samples.length; at += chunk) {
      const t0 = performance.now();
      s.accept(samples.subarray(at, Math.min(at + chunk, samples.length)));
      const p = s.partial();
      r.computeMs += performance.now() - t0;
      if (r.firstResultMs === null) r.firstResultMs = r.computeMs;
      if (p !== r.partials[r.partials.length - 1]) {
        r.partials.push(p);
        $("partial").textContent = p;
      }
      await nextTask(); // let the page paint the partial
    }
    const t0 = performance.now();
    r.final = s.finish();
    r.computeMs += performance.now() - t0;
    if (r.firstResultMs === null) r.firstResultMs = r.computeMs; // empty audio
  }
  r.rtf = r.audioSeconds > 0 ? r.computeMs / 1000 / r.audioSeconds : 0;
  return r;
}

async function transcribeWavFile(file) {
  if (!recognizer) throw new Error("choose a model file first");
  stopMic();
  setState("running", `Transcribing ${file.name} ...`);
  // No other model, file or microphone while this one runs (the recogniser is not re-entrant).
  const inputs = ["model-file", "lm-file", "wav-file", "mic-start"].map($);
  inputs.forEach((el) => (el.disabled = true));
  try {
    const audio = readWav(new Uint8Array(await file.arrayBuffer()), file.name);
    const samples = audio.sampleRate === MODEL_SAMPLE_RATE ? audio.samples : resample(audio.samples, audio.sampleRate, MODEL_SAMPLE_RATE);
    const r = await runSamples(samples, MODEL_SAMPLE_RATE);
    finishRun(r, `${file.name}: ${r.audioSeconds.toFixed(2)} s at ${audio.sampleRate} Hz, ${r.mode === "stream" ? "streamed" : "whole file"}.`);
  } finally {
    inputs.forEach((el) => (el.disabled = false));
  }
}

function finishRun(r, message) {
  demo.result = r;
  demo.memoryBytes = recognizer?.memoryBytes ?? null;
  demo.runs++;
  $("partial").textContent = r.final;
  $("final").textContent = r.final;
  showNumbers(r);
  setState("done", `Done. ${message}`);
}

// ---- Microphone: getUserMedia -> AudioWorklet (capture-worklet.js) -> stream.accept -------------

async function startMic() {
  if (!recognizer) throw new Error("choose a model file first");
  if (!navigator.mediaDevices?.getUserMedia || typeof AudioWorkletNode === "undefined") {
    throw new Error("the microphone needs a secure context (https, or http://localhost / 127.0.0.1) and a browser with AudioWorklet");
  }
  const media = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const ctx = new AudioContext({ sampleRate: MODEL_SAMPLE_RATE });
  if (ctx.sampleRate !== MODEL_SAMPLE_RATE) {
    media.getTracks().forEach((t) => t.stop());
    void ctx.close();
    throw new Error(`this browser runs audio at ${ctx.sampleRate} Hz, not ${MODEL_SAMPLE_RATE} Hz as asked; use a WAV file instead`);
  }
  await ctx.audioWorklet.addModule(new URL("./capture-worklet.js", import.meta.url));
  const source = ctx.createMediaStreamSource(media);
  const node = new AudioWorkletNode(ctx, "todm-capture", { numberOfInputs: 1, numberOfOutputs: 0 });
  const s = recognizer.causal ? recognizer.stream({ sampleRate: ctx.sampleRate }) : null;
  const r = { mode: s ? "stream" : "whole", final: "", partials: [], audioSeconds: 0, computeMs: 0, rtf: 0, firstResultMs: null };
  const held = []; // audio kept for a model that cannot stream
  node.port.onmessage = (ev) => {
    const chunk = ev.data;
    r.audioSeconds += chunk.length / ctx.sampleRate;
    if (!s) {
      held.push(chunk);
      $("audio-seconds").textContent = `${r.audioSeconds.toFixed(2)} s`;
      return;
    }
    const t0 = performance.now();
    s.accept(chunk);
    const p = s.partial();
    r.computeMs += performance.now() - t0;
    if (r.firstResultMs === null) r.firstResultMs = r.computeMs;
    if (p !== r.partials[r.partials.length - 1]) {
      r.partials.push(p);
      $("partial").textContent = p;
    }
    r.rtf = r.computeMs / 1000 / r.audioSeconds;
    showNumbers(r);
  };
  source.connect(node);
  mic = { ctx, media, source, node, s, r, held };
  $("partial").textContent = $("final").textContent = "";
  $("mic-start").disabled = true;
  $("mic-stop").disabled = false;
  setState("listening", `Listening at ${ctx.sampleRate} Hz${s ? "" : " (this model cannot stream: the transcript comes when you stop)"} ...`);
}

/** Stops capture; returns the run's record, or null when the microphone was off. */
function stopMic() {
  if (!mic) return null;
  const { ctx, media, source, node, s, r, held } = mic;
  mic = null;
  node.port.onmessage = null;
  source.disconnect();
  media.getTracks().forEach((t) => t.stop());
  void ctx.close();
  $("mic-start").disabled = recognizer === null;
  $("mic-stop").disabled = true;
  return { s, r, held, sampleRate: ctx.sampleRate };
}

async function finishMic() {
  const m = stopMic();
  if (!m) return;
  const { s, r, held, sampleRate } = m;
  const t0 = performance.now();
  if (s) {
    r.final = s.finish();
  } else {
    const all = new Float32Array(held.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of held) { all.set(c, at); at += c.length; }
    r.final = await recognizer.transcribe(all, sampleRate);
  }
  r.computeMs += performance.now() - t0;
  if (r.firstResultMs === null) r.firstResultMs = r.computeMs;
  r.rtf = r.audioSeconds > 0 ? r.computeMs / 1000 / r.audioSeconds : 0;
  finishRun(r, `microphone: ${r.audioSeconds.toFixed(2)} s at ${sampleRate} Hz.`);
}

// ---- Wiring ---------------------------------------------------------------------------------------

const guarded = (fn) => (...args) => fn(...args).catch(fail);
$("model-file").addEventListener("change", guarded(async (ev) => {
  const f = ev.target.files?.[0];
  if (f) await loadModel(f);
}));
$("lm-file").addEventListener("change", guarded(async (ev) => {
  const f = ev.target.files?.[0];
  ev.target.value = "";
  if (f) await loadLm(f);
}));
$("wav-file").addEventListener("change", guarded(async (ev) => {
  const f = ev.target.files?.[0];
  ev.target.value = ""; // choosing the same file again runs it again
  if (f) await transcribeWavFile(f);
}));
$("mic-start").addEventListener("click", guarded(startMic));
const modelUrl = new URLSearchParams(location.search).get("model");
if (modelUrl) guarded(() => loadFromUrl(new URL(modelUrl, location.href)))();
$("mic-stop").addEventListener("click", guarded(finishMic));
