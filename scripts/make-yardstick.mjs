// Freezes yardstick-v1: the test split of the default synthetic corpus as it stood at 0a3ea1a (seed 1,
// data/text/sentences.txt: 353 utterances), written as data (data/yardstick/yardstick-v1.tsv), and the
// SHA-256 of its audio as this machine's espeak-ng spoke it through todm's synthesis and resampling code
// of that commit (data/yardstick/yardstick-v1.sha256). Run once, from a build of that commit; kept so
// that the way the yardstick was made can be read and repeated.
//
//   node scripts/make-yardstick.mjs            # needs dist/ built at 0a3ea1a and espeak-ng 1.51
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planSynthesis, readSentences, DEFAULT_TEXT, EspeakRunner, findEspeak, SYNTH_RATE } from "../dist/data/synth.js";
import { writeWav } from "../dist/audio/wav.js";

const items = planSynthesis(readSentences(DEFAULT_TEXT), { seed: 1 }).filter((it) => it.split === "test");
const rows = ["id\tengine\tvoice\tvariant\trate\tpitch\tspoken\ttext"];
for (const it of items) {
  const [voice, variant] = it.voice.split("+");
  if (it.spoken.includes("\t")) throw new Error("tab in sentence");
  rows.push([it.id.replace(/^test-/, "ys1-"), "espeak-ng", voice, variant, it.speed, it.pitch, it.spoken, it.text].join("\t"));
}
writeFileSync("data/yardstick/yardstick-v1.tsv", rows.join("\n") + "\n");
const esp = findEspeak();
const runner = new EspeakRunner(esp.bin, mkdtempSync(join(tmpdir(), "ys-")));
const lines = [];
const all = createHash("sha256");
for (const it of items) {
  const wav = writeWav([await runner.speak(it)], SYNTH_RATE, { bits: 16 });
  const h = createHash("sha256").update(wav).digest("hex");
  all.update(h + "\n");
  lines.push(`${h}  ${it.id.replace(/^test-/, "ys1-")}.wav`);
}
runner.close();
writeFileSync("data/yardstick/yardstick-v1.sha256", `# ${esp.version}\n# all ${all.digest("hex")}\n` + lines.join("\n") + "\n");
console.log(`${items.length} utterances; ${esp.version}`);
