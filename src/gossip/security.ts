// memberlist's encryption framing and keyring, around an AEAD primitive that
// the caller injects (AES-GCM from node:crypto in production, see
// src/adapters/aead.ts), so this core never touches a runtime crypto API and
// the simulator can run it deterministically. Nonces come from the caller
// too: the shell draws them from crypto randomness, the simulator from its
// seeded PRNG.
//
// An encrypted payload is [version][12-byte nonce][ciphertext + 16-byte tag].
// Version 0 (spoken only with protocol version 1) pads the plaintext with
// PKCS#7 to the AES block size first; version 1 does not pad. Packets use the
// label bytes as GCM additional data; stream frames are
// [10][u32 BE payload length][payload] with [10][length bytes][label] as
// additional data, so neither the frame length nor the label can be altered.
// Decryption tries every installed key, primary first; encryption always
// uses the primary key (index 0).

import { assert } from "../lib/assert.ts";

/** Authenticated encryption (AES-GCM): seal returns ciphertext||16-byte tag; open returns undefined when authentication fails. */
export interface Aead {
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
}

export type EncryptionVersion = 0 | 1;
export const encryptionVersionMax = 1;
export const nonceBytes = 12;
export const tagBytes = 16;
const versionBytes = 1;
const aesBlockBytes = 16;
const encryptMessageCode = 10;
const streamFrameHeaderBytes = 5;

/** AES-128, AES-192 and AES-256. */
export const keyLengthsAllowed: readonly number[] = [16, 24, 32];
/** Rotation needs two keys at once; a few more leave room, and each key costs a trial decryption. */
export const keyringKeysMax = 16;

export type DecryptResult = { ok: true; plaintext: Uint8Array } | { ok: false; error: string };

/** Opens one encrypted stream frame: `frameHeader` is its first 5 bytes, `payload` the rest. */
export type StreamDecrypt = (frameHeader: Uint8Array, payload: Uint8Array) => DecryptResult;

/** memberlist speaks encryption version 0 only with protocol version 1. */
export function encryptionVersionFor(protocolVersion: number): EncryptionVersion {
  return protocolVersion === 1 ? 0 : 1;
}

/** Worst-case bytes encryption adds (45 for version 0 with a full padding block, 29 for version 1). */
export function encryptionOverheadBytes(version: EncryptionVersion): number {
  return versionBytes + nonceBytes + tagBytes + (version === 0 ? aesBlockBytes : 0);
}

/** Exact size of the encrypted payload for a plaintext of `plaintextLength` bytes. */
export function encryptedLength(version: EncryptionVersion, plaintextLength: number): number {
  const padding = version === 0 ? aesBlockBytes - (plaintextLength % aesBlockBytes) : 0;
  return versionBytes + nonceBytes + plaintextLength + padding + tagBytes;
}

function pkcs7Pad(plaintext: Uint8Array): Uint8Array {
  const padding = aesBlockBytes - (plaintext.length % aesBlockBytes);
  const padded = new Uint8Array(plaintext.length + padding);
  padded.set(plaintext);
  padded.fill(padding, plaintext.length);
  return padded;
}

/** [version][nonce][ciphertext+tag] under `key`. */
export function encryptPayload(
  aead: Aead,
  version: EncryptionVersion,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  assert(nonce.length === nonceBytes, `nonce must be ${nonceBytes} bytes, got ${nonce.length}`);
  assert(keyLengthsAllowed.includes(key.length), `key must be 16, 24 or 32 bytes, got ${key.length}`);
  const sealed = aead.seal(key, nonce, version === 0 ? pkcs7Pad(plaintext) : plaintext, aad);
  const out = new Uint8Array(versionBytes + nonceBytes + sealed.length);
  out[0] = version;
  out.set(nonce, versionBytes);
  out.set(sealed, versionBytes + nonceBytes);
  assert(out.length === encryptedLength(version, plaintext.length), "AEAD returned an unexpected ciphertext length");
  return out;
}

/** Tries every key in order; errors use memberlist's wording. */
export function decryptPayload(aead: Aead, keys: readonly Uint8Array[], payload: Uint8Array, aad: Uint8Array): DecryptResult {
  if (payload.length === 0) return { ok: false, error: "Cannot decrypt empty payload" };
  const version = payload[0]!;
  if (version > encryptionVersionMax) return { ok: false, error: `Unsupported encryption version ${version}` };
  if (payload.length < encryptedLength(version as EncryptionVersion, 0)) {
    return { ok: false, error: `Payload is too small to decrypt: ${payload.length}` };
  }
  if (keys.length === 0) return { ok: false, error: "no encryption keys are installed" };
  const nonce = payload.subarray(versionBytes, versionBytes + nonceBytes);
  const sealed = payload.subarray(versionBytes + nonceBytes);
  for (const key of keys) {
    const plaintext = aead.open(key, nonce, sealed, aad);
    if (plaintext === undefined) continue;
    return version === 0 ? pkcs7Unpad(plaintext) : { ok: true, plaintext };
  }
  return { ok: false, error: "No installed keys could decrypt the message" };
}

/** Go's sender always pads with 1..16 bytes of the pad length; anything else cannot come from it. */
function pkcs7Unpad(padded: Uint8Array): DecryptResult {
  const padding = padded.length > 0 ? padded[padded.length - 1]! : 0;
  if (padding < 1 || padding > aesBlockBytes || padding > padded.length) {
    return { ok: false, error: "decrypted payload has invalid PKCS#7 padding" };
  }
  return { ok: true, plaintext: padded.subarray(0, padded.length - padding) };
}

// ---------------------------------------------------------------- packets and streams

/** What a node needs to encrypt and decrypt: the AEAD, its keys, its label, the version it sends. */
export interface Encryption {
  aead: Aead;
  keyring: Keyring;
  /** The cluster label's bytes (empty for none): authenticated, never encrypted. */
  label: Uint8Array;
  version: EncryptionVersion;
}

/** Encrypts a finished packet (after CRC) with the primary key; AAD = label. */
export function encryptPacket(encryption: Encryption, packet: Uint8Array, nonce: Uint8Array): Uint8Array {
  return encryptPayload(encryption.aead, encryption.version, primaryKey(encryption.keyring), nonce, packet, encryption.label);
}

/** Decrypts a packet whose label header was already stripped (and matched). */
export function decryptPacket(encryption: Encryption, payload: Uint8Array): DecryptResult {
  return decryptPayload(encryption.aead, encryption.keyring.keys, payload, encryption.label);
}

function streamAad(frameHeader: Uint8Array, label: Uint8Array): Uint8Array {
  const aad = new Uint8Array(frameHeader.length + label.length);
  aad.set(frameHeader);
  aad.set(label, frameHeader.length);
  return aad;
}

/** [10][u32 BE length][payload] around a plain or compressed stream message. */
export function encryptStreamFrame(encryption: Encryption, plaintext: Uint8Array, nonce: Uint8Array): Uint8Array {
  const length = encryptedLength(encryption.version, plaintext.length);
  const header = new Uint8Array(streamFrameHeaderBytes);
  header[0] = encryptMessageCode;
  new DataView(header.buffer).setUint32(1, length);
  const payload = encryptPayload(encryption.aead, encryption.version, primaryKey(encryption.keyring), nonce, plaintext, streamAad(header, encryption.label));
  const frame = new Uint8Array(streamFrameHeaderBytes + payload.length);
  frame.set(header);
  frame.set(payload, streamFrameHeaderBytes);
  return frame;
}

/** The decrypt callback codec.decodeStream needs for encrypted frames. */
export function streamDecryptor(encryption: Encryption): StreamDecrypt {
  return (frameHeader, payload) =>
    decryptPayload(encryption.aead, encryption.keyring.keys, payload, streamAad(frameHeader, encryption.label));
}

// ---------------------------------------------------------------- keyring

/** Installed keys; keys[0] is the primary (used to encrypt, tried first to decrypt). */
export interface Keyring {
  readonly keys: readonly Uint8Array[];
}

export type KeyringResult = { ok: true; keyring: Keyring } | { ok: false; error: string };

/** Why `key` cannot be a key, or undefined when it can. */
export function validateKey(key: Uint8Array): string | undefined {
  if (keyLengthsAllowed.includes(key.length)) return undefined;
  return `key is ${key.length} bytes; keys must be 16, 24 or 32 bytes (AES-128, AES-192, AES-256)`;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function indexOfKey(keyring: Keyring, key: Uint8Array): number {
  return keyring.keys.findIndex((installed) => sameKey(installed, key));
}

function ring(keys: Uint8Array[]): KeyringResult {
  return { ok: true, keyring: Object.freeze({ keys: Object.freeze(keys) }) };
}

/** A keyring from keys in order, the first being the primary. */
export function createKeyring(keys: readonly Uint8Array[]): KeyringResult {
  if (keys.length === 0) return { ok: false, error: "a keyring needs at least one key" };
  let keyring: Keyring = { keys: [] };
  for (const [index, key] of keys.entries()) {
    const added = installKey(keyring, key);
    if (!added.ok) return { ok: false, error: `key ${index + 1}: ${added.error}` };
    keyring = added.keyring;
  }
  return ring([...keyring.keys]);
}

export function primaryKey(keyring: Keyring): Uint8Array {
  const key = keyring.keys[0];
  assert(key !== undefined, "the keyring is empty");
  return key;
}

/** Adds a key for decryption; it becomes primary only with useKey. */
export function installKey(keyring: Keyring, key: Uint8Array): KeyringResult {
  const invalid = validateKey(key);
  if (invalid !== undefined) return { ok: false, error: invalid };
  if (indexOfKey(keyring, key) >= 0) return { ok: false, error: "key is already installed" };
  if (keyring.keys.length >= keyringKeysMax) return { ok: false, error: `keyring already holds the maximum of ${keyringKeysMax} keys` };
  return ring([...keyring.keys, key.slice()]);
}

/** Makes an installed key the primary; the old primary stays installed. */
export function useKey(keyring: Keyring, key: Uint8Array): KeyringResult {
  const index = indexOfKey(keyring, key);
  if (index < 0) return { ok: false, error: "requested key is not in the keyring" };
  const chosen = keyring.keys[index]!;
  return ring([chosen, ...keyring.keys.filter((_, i) => i !== index)]);
}

export function removeKey(keyring: Keyring, key: Uint8Array): KeyringResult {
  const index = indexOfKey(keyring, key);
  if (index === 0) return { ok: false, error: "removing the primary key is not allowed; make another key primary first" };
  if (index < 0) return { ok: false, error: "requested key is not in the keyring" };
  return ring(keyring.keys.filter((_, i) => i !== index));
}

// ---------------------------------------------------------------- keyring file and base64

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const base64Values = new Int16Array(128).fill(-1);
for (let i = 0; i < base64Alphabet.length; i++) base64Values[base64Alphabet.charCodeAt(i)] = i;

/** Longest keyring file line we look at; a key is 44 characters. */
const keyringLineCharsMax = 1024;

/** Standard padded base64 (what Go's base64.StdEncoding, Serf and `constellation keygen` write); undefined if invalid. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let bits = 0;
  let bitCount = 0;
  let length = 0;
  for (let i = 0; i < text.length - padding; i++) {
    bits = ((bits << 6) | base64Values[text.charCodeAt(i)]!) & 0xffffff;
    bitCount += 6;
    if (bitCount >= 8) {
      bitCount -= 8;
      out[length++] = (bits >>> bitCount) & 0xff;
    }
  }
  return out;
}

export function encodeBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const chunk = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let k = 0; k < 4; k++) text += k < chars ? base64Alphabet[(chunk >>> (18 - 6 * k)) & 0x3f] : "=";
  }
  return text;
}

/**
 * Parses a keyring file: one base64 key per line, the first being the
 * primary; blank lines and lines starting with # are ignored. Errors name the
 * line, never the key material.
 */
export function parseKeyringFile(text: string): KeyringResult {
  const keys: Uint8Array[] = [];
  const lineOfKey: number[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const lineNumber = index + 1;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const key = line.length <= keyringLineCharsMax ? decodeBase64(line) : undefined;
    if (key === undefined) return { ok: false, error: `line ${lineNumber}: not a base64 key` };
    const invalid = validateKey(key);
    if (invalid !== undefined) return { ok: false, error: `line ${lineNumber}: ${invalid}` };
    const duplicate = keys.findIndex((other) => sameKey(other, key));
    if (duplicate >= 0) return { ok: false, error: `line ${lineNumber}: the same key as line ${lineOfKey[duplicate]}` };
    if (keys.length >= keyringKeysMax) return { ok: false, error: `line ${lineNumber}: more than ${keyringKeysMax} keys` };
    keys.push(key);
    lineOfKey.push(lineNumber);
  }
  if (keys.length === 0) return { ok: false, error: "the keyring file has no keys" };
  return createKeyring(keys);
}
