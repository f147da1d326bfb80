// The inference API (todm/infer on wasm/todm-infer-*.wasm) on one thread in Node, beside the PyTorch
// mirror of the same model (bench/peers/infer.py: torchaudio fbank, test/ref/todm_model.py encoder,
// greedy search) on the same audio, one thread, in the same run.
//
// Models: TODM_INFER_MODELS=a.safetensors,b.safetensors when given, else DEFAULT_MODEL
// (src/model/config.ts) with seeded random weights (the speed does not depend on training, only the
// number of emitted tokens does: the log says how many each side emitted, and whether they agree).
// Subnets: the whole model and L2-ff192-h2 (plus TODM_INFER_SUBNETS=L4-ff384-h2,... when given).
// int8: every float model is also run as its `todm export --int8` file (src/model/export.ts, the whole
// model; the subnets picked at load), in the same run: case names end in ", int8"; their torch peer is
// the float32 model's (the peer does not run int8), and the log gives the int8/f32 RTF ratio.
// Audio: 10 s of synthetic voiced sound at 16 kHz (a moving pitch with harmonics and noise).
// Records (each the median of 5 runs after 1 warm-up):
//   RTF          transcribe(10 s) time / 10 s (greedy); target <= 0.05 for the default model
//   stream       compute per second of audio, fed 20 ms chunks (as a microphone would) with partial() after
//                each; the stream runs the encoder every 160 ms of audio (its default batchMs); target <= 100 ms
//   cold start   Recognizer.load (compile the wasm from bytes, parse and pack the model) to the first
//                transcript of 1 s; target <= 200 ms for the smallest subnet
//   memory       the instance's WebAssembly memory after the 10 s transcript (peer: its process's peak
//                RSS, torch's runtime included: not the same quantity, shown for scale)

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Engine } from "../dist/index.js";
import { DEFAULT_MODEL, parseSubnetName, subnetName, supernetSpec, type ModelConfig, type SubnetSpec } from "../dist/model/config.js";
import { encodeModel } from "../dist/model/io.js";
import { Model } from "../dist/model/model.js";
import { CharTokenizer } from "../dist/data/tokenizer.js";
import { decodeSafetensors } from "../dist/io/safetensors.js";
import { encodeSubnetModel } from "../dist/model/export.js";
import { Recognizer } from "../dist/infer/index.js";
import { inferWasm } from "../dist/infer/node.js";
import { median, timeMs, timeMsAsync, type BenchContext, type BenchRecord } from "./lib.js";

const SECONDS = 10;
const RATE = 16000;
const REPS = 5;

function voiced(seconds: number): Float32Array {
  let s = 7;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const n = seconds * RATE, x = new Float32Array(n);
  let ph = 0;
  for (let i = 0; i < n; i++) {
    ph += (2 * Math.PI * 140 * (1 + 0.3 * Math.sin(i / 4000))) / RATE;
    x[i] = 0.2 * Math.sin(ph) + 0.1 * Math.sin(3 * ph) * Math.sin(i / 1500) + 0.05 * (u() - 0.5);
  }
  return x;
}

function randomDefaultModel(e: Engine): Uint8Array {
  const m = new Model(e, DEFAULT_MODEL);
  m.params.init(1);
  const tok = new CharTokenizer(["<blank>", ...Array.from({ length: DEFAULT_MODEL.vocabSize - 1 }, (_, i) => String.fromCodePoint(0x100 + i))]);
  return encodeModel(m, tok);
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const audio = voiced(SECONDS);
  const dir = mkdtempSync(join(tmpdir(), "todm-bench-infer-"));
  const out: BenchRecord[] = [];
  try {
    const audioFile = join(dir, "audio.f32");
    writeFileSync(audioFile, new Uint8Array(audio.buffer));
    const models: { name: string; path: string; bytes: Uint8Array; int8?: boolean }[] = [];
    const given = (process.env.TODM_INFER_MODELS ?? "").split(",").filter(Boolean);
    if (given.length) for (const p of given) models.push({ name: p, path: p, bytes: new Uint8Array(readFileSync(p)) });
    else {
      const e = ctx.engines[ctx.engines.length - 1];
      const bytes = e.scoped(() => randomDefaultModel(e));
      const path = join(dir, "default.safetensors");
      writeFileSync(path, bytes);
      models.push({ name: "default model (random weights)", path, bytes });
    }
    for (const m of [...models]) {
      const file = decodeSafetensors(m.bytes, m.path);
      if (file.metadata["todm.quant"]) continue;
      const cfg = JSON.parse(file.metadata["todm.config"]) as ModelConfig;
      const bytes = encodeSubnetModel(file, m.path, supernetSpec(cfg), { int8: true });
      models.push({ name: `${m.name}, int8`, path: m.path, bytes, int8: true }); // path: the float file, for the peer
    }
    const builds = ctx.engines.map((e) => e.build);
    const peers = new Map<string, { rtf: number; cold_ms: number; rss_mb: number; tokens: number[] } | null>();
    const rtfs = new Map<string, number>(); // float model's RTF per subnet and build, for the int8 ratio
    for (const model of models) {
      const cfg = JSON.parse(decodeSafetensors(model.bytes, model.path).metadata["todm.config"]) as ModelConfig;
      const subs: SubnetSpec[] = [supernetSpec(cfg), { layers: Math.min(2, cfg.layers), ffDim: Math.min(192, cfg.ffDim), heads: 2 }];
      for (const s of (process.env.TODM_INFER_SUBNETS ?? "").split(",").filter(Boolean)) subs.push(parseSubnetName(s));
      for (const sub of subs) {
        const sn = subnetName(sub);
        const peerKey = `${model.path} ${sn}`;
        if (!peers.has(peerKey)) {
          peers.set(peerKey, ctx.python("bench/peers/infer.py", [model.path, audioFile, String(REPS), JSON.stringify(sub)]) as
            { rtf: number; cold_ms: number; rss_mb: number; tokens: number[] } | null);
        }
        const peer = peers.get(peerKey)!;
        const record = (c: string, metric: string, todm: number, build: string, torch: number | null, note: string): BenchRecord => ({
          bench: "infer", case: `${model.name}, ${sn}: ${c}`, metric, higherIsBetter: false, todm, build, peers: { torch },
          machine: ctx.machine, commit: ctx.commit, note: model.int8 ? `${note}; int8 model (encoder linear layers int8): torch runs the float32 file` : note,
        });
        for (const build of builds) {
          const wasm = inferWasm(build);
          const rec = await Recognizer.load(model.bytes, { wasm, subnet: sub });
          if (rec.build !== build) ctx.log(`  asked for ${build}, got ${rec.build}`);
          const result = rec.recognize(audio, RATE);
          const agree = peer ? JSON.stringify(peer.tokens) === JSON.stringify(result.tokens) : null;
          ctx.log(`  ${model.name} ${sn} ${build}: ${result.tokens.length} tokens` +
            (peer ? `, torch ${peer.tokens.length} tokens (${agree ? "the same" : "DIFFERENT"}${model.int8 ? "; torch runs the float32 file" : ""})` : ""));
          const rtfMs = await timeMsAsync(async () => void (await rec.transcribe(audio, RATE)), REPS, 1);
          const streamMs = timeMs(() => {
            const s = rec.stream({ sampleRate: RATE });
            for (let i = 0; i < audio.length; i += RATE * 0.02) {
              s.accept(audio.subarray(i, i + RATE * 0.02));
              s.partial();
            }
            s.finish();
          }, REPS, 1);
          const colds: number[] = [];
          for (let r = 0; r < REPS + 1; r++) {
            const t0 = performance.now();
            const fresh = await Recognizer.load(model.bytes, { wasm, subnet: sub });
            await fresh.transcribe(audio.subarray(0, RATE), RATE);
            if (r > 0) colds.push(performance.now() - t0);
          }
          const cold = median(colds);
          const memMB = rec.memoryBytes / 2 ** 20;
          const rtf = rtfMs / 1e3 / SECONDS, rtfKey = `${model.path} ${sn} ${build}`;
          if (!model.int8) rtfs.set(rtfKey, rtf);
          else if (rtfs.has(rtfKey)) ctx.log(`    int8 / float32 RTF ${(rtf / rtfs.get(rtfKey)!).toFixed(3)} (same run)`);
          ctx.log(`    RTF ${(rtfMs / 1e3 / SECONDS).toFixed(4)} (torch ${peer?.rtf.toFixed(4) ?? "n/a"}), stream ${(streamMs / SECONDS).toFixed(1)} ms per s, ` +
            `cold ${cold.toFixed(1)} ms (torch ${peer?.cold_ms.toFixed(0) ?? "n/a"}), memory ${memMB.toFixed(1)} MB, weights ${(rec.weightBytes / 2 ** 20).toFixed(2)} MB`);
          out.push(
            record(`${SECONDS} s, transcribe (greedy)`, "RTF", rtfMs / 1e3 / SECONDS, build, peer?.rtf ?? null,
              "RTF: compute time / audio time, one thread, greedy search (target <= 0.05 for the default model); torch: bench/peers/infer.py"),
            record(`stream of 20 ms chunks (encoder every 160 ms), partial() after each`, "ms compute per s of audio", streamMs / SECONDS, build, null,
              "stream: target <= 100 ms of compute per second of audio; no torch streaming peer"),
            record(`cold start (load bytes + first transcript of 1 s)`, "ms", cold, build, peer?.cold_ms ?? null,
              "cold start: wasm compiled from bytes each time; torch: from reading the file (torch already imported); target <= 200 ms for the smallest subnet"),
            record(`memory after ${SECONDS} s`, "MB", memMB, build, peer?.rss_mb ?? null,
              "memory: todm = the instance's WebAssembly memory; torch = the peer process's peak RSS including torch itself (different quantities)"),
          );
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
