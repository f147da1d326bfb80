// Text normalisation in LibriSpeech style, the one function used for training targets and for
// scoring alike (a mismatch between the two silently inflates WER).
//
// Rules, in order: Unicode NFKD with combining marks dropped (CAFÉ -> CAFE); typographic apostrophes
// and primes become "'"; upper case; a "." between letters is dropped (U.S.A -> USA); every other
// character that is not a letter, digit or apostrophe becomes a space; apostrophes are kept inside a
// word (DON'T, O'CLOCK) and after a final S (HORSES'), and dropped elsewhere (quotation marks); runs
// of spaces collapse. Digits are kept as they are: LibriSpeech spells numbers out, and todm does not
// expand them (the synthetic corpus's text list has no digits). Not a number, date or abbreviation
// expander. The function is idempotent (a property test checks it).

const APOSTROPHES = /[\u2018\u2019\u02bc\u2032\u0060\u00b4]/g;

/** Normalises one transcript: `"'Well, it's the horses' café,' he said."` -> `WELL IT'S THE HORSES' CAFE HE SAID`. */
export function normalizeText(text: string): string {
  const s = text
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(APOSTROPHES, "'")
    .toUpperCase()
    .replace(/(?<=\p{L})\.(?=\p{L})/gu, "")
    .replace(/[^\p{L}\p{N}']+/gu, " ");
  const words: string[] = [];
  for (const raw of s.split(" ")) {
    // Apostrophes inside a word stay; leading ones go; trailing ones stay only after S.
    let w = raw.replace(/^'+/, "");
    const core = w.replace(/'+$/, "");
    w = core.length < w.length && core.endsWith("S") ? core + "'" : core;
    w = w.replace(/'{2,}/g, "'");
    if (w) words.push(w);
  }
  return words.join(" ");
}
