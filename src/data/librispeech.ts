// A LibriSpeech split directory (`<split>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac`, one
// `<speaker>-<chapter>.trans.txt` per chapter with lines `<utterance-id> <TEXT>`), listed as
// utterances. Durations come later (prepare.ts decodes or reads headers). Problems — a transcript line
// without text, a line whose audio is missing, an audio file without a line, a chapter without a
// transcript — go to the SkipLedger with the file and line. Not a downloader.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { DataError, SkipLedger } from "./errors.js";

export interface LibriUtterance {
  id: string;
  audio: string;
  text: string;
  source: string;
}

function subdirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

/** Lists the utterances of a split; throws (always, even when not strict) if `dir` is not a split. */
export function scanLibriSpeech(dir: string, ledger = new SkipLedger()): LibriUtterance[] {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`${dir}: no such directory`);
  const out: LibriUtterance[] = [];
  let chapters = 0;
  for (const spk of subdirs(root)) {
    for (const ch of subdirs(join(root, spk))) {
      chapters++;
      const chDir = join(root, spk, ch);
      const trans = join(chDir, `${spk}-${ch}.trans.txt`);
      const audioFiles = new Set(readdirSync(chDir).filter((f) => /\.(flac|wav)$/i.test(f)));
      if (!existsSync(trans)) {
        ledger.skip(new DataError("bad-transcript", chDir, undefined, `no transcript ${spk}-${ch}.trans.txt (${audioFiles.size} audio files skipped)`));
        continue;
      }
      const lines = readFileSync(trans, "utf8").split("\n");
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i].trim();
        if (!line) continue;
        try {
          const m = /^(\S+)\s+(.*\S)$/.exec(line);
          if (!m) throw new DataError("bad-transcript", trans, i + 1, "expected `<utterance-id> <TEXT>`");
          const [, id, text] = m;
          const name = audioFiles.has(`${id}.flac`) ? `${id}.flac` : audioFiles.has(`${id}.wav`) ? `${id}.wav` : undefined;
          if (!name) throw new DataError("missing-audio", trans, i + 1, `audio file ${join(chDir, id + ".flac")} not found`);
          audioFiles.delete(name);
          out.push({ id, audio: join(chDir, name), text, source: `${trans}:${i + 1}` });
        } catch (e) {
          ledger.skip(e);
        }
      }
      for (const f of audioFiles) {
        ledger.skip(new DataError("bad-transcript", join(chDir, f), undefined, `no line for this file in ${trans}`));
      }
    }
  }
  if (chapters === 0) throw new Error(`${dir}: not a LibriSpeech split (expected <speaker>/<chapter>/ folders)`);
  return out;
}
