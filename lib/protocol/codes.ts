/**
 * Codec and flag values of the batch wire format (batches.ts has the layout).
 * A module of its own so the payload workers load these without the encoder,
 * the CRC binding or the log engine.
 */
export const CODEC_NONE = 0;
export const CODEC_ZSTD = 1;
/** Records are framed (multiline, split or unterminated lines; see records.ts), not '\n'-terminated lines. */
export const FLAG_FRAMED = 1;
/** Records are JSON host-metric samples ({"metrics": [...]}), not log lines. */
export const FLAG_METRICS = 2;
