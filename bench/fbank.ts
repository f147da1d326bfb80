// fbank throughput as x real time (higher is better): 60 s of 16 kHz audio, 80 bins, one core.
// todm through its public API (copy in, one WASM call, copy out), both builds, one-shot and as a
// stream fed 100 ms chunks; the peer is torchaudio's kaldi.fbank on one thread (bench/peers/fbank.py).
// Issue target: at least 1000x real time.
import { fbank, FbankStream } from "../dist/index.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const SECONDS = 60;
const RATE = 16000;

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  let s = 1;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32); // seeded LCG
  const audio = Float32Array.from({ length: SECONDS * RATE }, (_, i) => 0.3 * Math.sin(i * 0.05) + 0.2 * (uniform() - 0.5));
  const peer = ctx.python("bench/peers/fbank.py", [String(SECONDS), String(RATE)]) as { x_realtime: number } | null;
  const peers = { torchaudio: peer?.x_realtime ?? null };
  const out: BenchRecord[] = [];
  const record = (name: string, build: string, ms: number): BenchRecord => ({
    bench: "fbank", case: name, metric: "x realtime", higherIsBetter: true, todm: (SECONDS * 1e3) / ms, build, peers,
    machine: ctx.machine, commit: ctx.commit, note: "80 bins, Kaldi defaults; torchaudio peer: kaldi.fbank on one thread, one-shot",
  });
  for (const e of ctx.engines) {
    const oneShot = timeMs(() => void fbank(e, audio, RATE), 7, 2);
    ctx.log(`  ${e.build} one-shot: ${oneShot.toFixed(1)} ms for ${SECONDS} s`);
    out.push(record(`${SECONDS} s at 16 kHz, one call`, e.build, oneShot));
    const chunk = RATE / 10;
    const streamed = timeMs(() => {
      const st = new FbankStream(e, RATE);
      for (let at = 0; at < audio.length; at += chunk) st.accept(audio.subarray(at, at + chunk));
      st.flush();
    }, 7, 2);
    ctx.log(`  ${e.build} stream of 100 ms chunks: ${streamed.toFixed(1)} ms`);
    out.push(record(`${SECONDS} s at 16 kHz, stream of 100 ms chunks`, e.build, streamed));
  }
  ctx.log(`  torchaudio: ${peers.torchaudio?.toFixed(0) ?? "n/a"} x realtime`);
  return out;
}
