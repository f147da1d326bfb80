// The microphone's AudioWorklet processor (loaded by app.js): it gathers the first input channel's
// 128-frame render quanta into chunks of about 50 ms and posts each chunk (a fresh Float32Array,
// transferred) to the page, which feeds it to the recogniser's stream. It does no resampling and no
// recognition: the audio thread only copies.

const CHUNK_SECONDS = 0.05;

class TodmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.max(128, Math.round(CHUNK_SECONDS * sampleRate));
    this.buf = new Float32Array(this.size);
    this.fill = 0;
  }

  process(inputs) {
    const channel = inputs[0]?.[0];
    if (!channel) return true; // no input connected yet
    let at = 0;
    while (at < channel.length) {
      const n = Math.min(channel.length - at, this.size - this.fill);
      this.buf.set(channel.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === this.size) {
        this.port.postMessage(this.buf, [this.buf.buffer]);
        this.buf = new Float32Array(this.size);
        this.fill = 0;
      }
    }
    return true;
  }
}

registerProcessor("todm-capture", TodmCapture);
