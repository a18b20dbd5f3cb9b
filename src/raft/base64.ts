// Standard base64 (RFC 4648, with padding) for the bytes inside JSON-encoded
// Raft messages. Written out here because cores may not use runtime
// helpers; decoding is strict and returns undefined on any malformed input,
// since the input comes from the network.

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const valueOf = new Int16Array(128).fill(-1);
for (let i = 0; i < alphabet.length; i++) valueOf[alphabet.charCodeAt(i)] = i;

export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    const triple = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    chunk += alphabet[(triple >> 18) & 63]! + alphabet[(triple >> 12) & 63]!;
    chunk += b === undefined ? "=" : alphabet[(triple >> 6) & 63]!;
    chunk += c === undefined ? "=" : alphabet[triple & 63]!;
    // Joining fixed-size chunks keeps long inputs from building one huge rope string.
    if (chunk.length >= 4096) {
      parts.push(chunk);
      chunk = "";
    }
  }
  parts.push(chunk);
  return parts.join("");
}

export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const bytes = new Uint8Array((text.length / 4) * 3 - padding);
  let out = 0;
  for (let i = 0; i < text.length; i += 4) {
    let triple = 0;
    for (let k = 0; k < 4; k++) {
      const code = text.charCodeAt(i + k);
      const isPadding = code === 61 && i + 4 === text.length && k >= 4 - padding;
      const value = isPadding ? 0 : code < 128 ? valueOf[code]! : -1;
      if (value < 0) return undefined;
      triple = (triple << 6) | value;
    }
    if (out < bytes.length) bytes[out++] = (triple >> 16) & 255;
    if (out < bytes.length) bytes[out++] = (triple >> 8) & 255;
    if (out < bytes.length) bytes[out++] = triple & 255;
  }
  return bytes;
}
