// Encryption framing, keyring and keyring file. Golden vectors come from Go:
// fixed-nonce ones from crypto/cipher in memberlist's layout, and random-
// nonce ones written by Debian's memberlist 0.2.2 itself (encryptPayload and
// encryptLocalState), which we must open.

import { describe, expect, test } from "bun:test";
import { nodeAead } from "../../src/adapters/aead.ts";
import { decodePacket, decodeStream, encodePacketMessage } from "../../src/gossip/codec.ts";
import {
  createKeyring,
  decodeBase64,
  decryptPacket,
  decryptPayload,
  encodeBase64,
  encryptedLength,
  encryptionOverheadBytes,
  encryptionVersionFor,
  encryptPacket,
  encryptPayload,
  encryptStreamFrame,
  installKey,
  parseKeyringFile,
  primaryKey,
  removeKey,
  streamDecryptor,
  useKey,
  type Encryption,
  type Keyring,
} from "../../src/gossip/security.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));
const bytesOf = (text: string) => new TextEncoder().encode(text);

const key16 = bytesOf("0123456789abcdef");
const key32 = bytesOf("0123456789abcdef0123456789abcdef");
const nonce = fromHex("000102030405060708090a0b");
const pingMin = fromHex("0082a44e6f6465a161a55365714e6f01");
const noLabel = new Uint8Array(0);

function ring(...keys: Uint8Array[]): Keyring {
  const result = createKeyring(keys);
  if (!result.ok) throw new Error(result.error);
  return result.keyring;
}

function encryption(keyring: Keyring, label = noLabel, version: 0 | 1 = 1): Encryption {
  return { aead: nodeAead, keyring, label, version };
}

describe("golden vectors from Go", () => {
  test("version 1, AES-256, label as additional data (crypto/cipher, fixed nonce)", () => {
    const expected = "01000102030405060708090a0b2d671f32b67cb70dc97922db0081be05dfc7c217178e62cdfa6deb75d5c07481";
    expect(hex(encryptPacket(encryption(ring(key32), bytesOf("prod")), pingMin, nonce))).toBe(expected);
  });

  test("version 0, AES-128, PKCS#7 padding (crypto/cipher, fixed nonce)", () => {
    const expected =
      "00000102030405060708090a0bfdbd605371105e978983547fb1d5df2c10c747ea17a35a5b6779fae3ffbbbb7c634e746dc0580cd6c6e5e93ed781b784";
    expect(hex(encryptPacket(encryption(ring(key16), noLabel, 0), pingMin, nonce))).toBe(expected);
  });

  test("stream frame, AES-256, label (crypto/cipher, fixed nonce)", () => {
    const expected = "0a0000002d01000102030405060708090a0b2d671f32b67cb70dc97922db0081be05f7fe28cec72e7fc569a62e477d330357";
    expect(hex(encryptStreamFrame(encryption(ring(key32), bytesOf("prod")), pingMin, nonce))).toBe(expected);
  });

  test("packets and a stream frame encrypted by memberlist 0.2.2 open, with a secondary key", () => {
    const keyring = ring(new Uint8Array(32).fill(9), key32);
    const v1 = decryptPacket(encryption(keyring), fromHex("0103cd330c66679784c3302fa3f45bfdb68a69287bed73add7936e28b0efe975885e850d1df0271aecf63a8755"));
    expect(v1.ok && hex(v1.plaintext)).toBe(hex(pingMin));
    const v0 = decryptPacket(
      encryption(ring(key16)),
      fromHex("006625ef640994f2dd13eed2c7c1894df6cb5388b9a18a4edddc4d784325c10323b73166b45e1f08a5a6e2381a82962eba9e84dc3a6cfbe19c1a165d29"),
    );
    expect(v0.ok && hex(v0.plaintext)).toBe(hex(pingMin));
    const frame = fromHex("0a0000002d014de4c801689b988ed33d5183a754f84b2cf6e51adcf46807599e532e29a5f312eac7fd3d197d763654dbfd9a");
    expect(decodeStream(frame, { decrypt: streamDecryptor(encryption(keyring)) })).toEqual({
      kind: "message",
      message: { type: "ping", seqNo: 1, node: "a" },
      consumed: frame.length,
      encrypted: true,
    });
  });
});

describe("encryption framing", () => {
  test("overheads and lengths, as memberlist computes them", () => {
    expect(encryptionOverheadBytes(1)).toBe(29);
    expect(encryptionOverheadBytes(0)).toBe(45);
    expect(encryptedLength(1, 100)).toBe(129);
    expect(encryptedLength(0, 0)).toBe(45);
    expect(encryptedLength(0, 16)).toBe(61);
    expect(encryptedLength(0, 17)).toBe(61);
    expect(encryptionVersionFor(1)).toBe(0);
    expect(encryptionVersionFor(2)).toBe(1);
    expect(encryptionVersionFor(5)).toBe(1);
  });

  test.each([16, 24, 32])("round trip with a %i-byte key, both versions, every padding length", (length) => {
    const keyring = ring(new Uint8Array(length).fill(length));
    for (const version of [0, 1] as const) {
      for (let size = 0; size < 40; size++) {
        const packet = new Uint8Array(size).fill(size);
        const sealed = encryptPacket(encryption(keyring, bytesOf("lbl"), version), packet, nonce);
        expect(sealed.length).toBe(encryptedLength(version, size));
        const opened = decryptPacket(encryption(keyring, bytesOf("lbl")), sealed);
        expect(opened.ok && hex(opened.plaintext)).toBe(hex(packet));
      }
    }
  });

  test("the label is authenticated: another label does not open", () => {
    const sealed = encryptPacket(encryption(ring(key32), bytesOf("a")), pingMin, nonce);
    expect(decryptPacket(encryption(ring(key32), bytesOf("b")), sealed)).toEqual({ ok: false, error: "No installed keys could decrypt the message" });
    expect(decryptPacket(encryption(ring(key32)), sealed).ok).toBe(false);
  });

  test("the stream frame's length field is authenticated", () => {
    const frame = encryptStreamFrame(encryption(ring(key32)), pingMin, nonce);
    const tampered = frame.slice();
    tampered[4]! += 1;
    const decrypt = streamDecryptor(encryption(ring(key32)));
    expect(decrypt(tampered.subarray(0, 5), frame.subarray(5)).ok).toBe(false);
    expect(decrypt(frame.subarray(0, 5), frame.subarray(5)).ok).toBe(true);
  });

  test("encrypted packets decode after decryption, CRC and all", () => {
    const message = encodePacketMessage({ type: "nack", seqNo: 9 });
    const opened = decryptPacket(encryption(ring(key16)), encryptPacket(encryption(ring(key16)), message, nonce));
    expect(opened.ok && decodePacket(opened.plaintext).messages).toEqual([{ type: "nack", seqNo: 9 }]);
  });

  test("errors use memberlist's wording", () => {
    const keys = [key32];
    expect(decryptPayload(nodeAead, keys, new Uint8Array(0), noLabel)).toEqual({ ok: false, error: "Cannot decrypt empty payload" });
    expect(decryptPayload(nodeAead, keys, fromHex("02" + "00".repeat(40)), noLabel)).toEqual({ ok: false, error: "Unsupported encryption version 2" });
    expect(decryptPayload(nodeAead, keys, fromHex("01" + "00".repeat(27)), noLabel)).toEqual({ ok: false, error: "Payload is too small to decrypt: 28" });
    expect(decryptPayload(nodeAead, keys, fromHex("00" + "00".repeat(43)), noLabel)).toEqual({ ok: false, error: "Payload is too small to decrypt: 44" });
    expect(decryptPayload(nodeAead, [], fromHex("01" + "00".repeat(40)), noLabel)).toEqual({ ok: false, error: "no encryption keys are installed" });
  });

  test("version 0 with padding no Go sender could write is refused", () => {
    for (const badPad of [0, 17]) {
      const plaintext = new Uint8Array(16).fill(badPad);
      const payload = new Uint8Array([0, ...nonce, ...nodeAead.seal(key16, nonce, plaintext, noLabel)]);
      expect(decryptPayload(nodeAead, [key16], payload, noLabel)).toEqual({ ok: false, error: "decrypted payload has invalid PKCS#7 padding" });
    }
  });

  test("encryption always uses the primary key", () => {
    const keyring = ring(key16, key32);
    const sealed = encryptPayload(nodeAead, 1, primaryKey(keyring), nonce, pingMin, noLabel);
    expect(decryptPayload(nodeAead, [key16], sealed, noLabel).ok).toBe(true);
    expect(decryptPayload(nodeAead, [key32], sealed, noLabel).ok).toBe(false);
  });
});

describe("the node:crypto AEAD adapter", () => {
  test("open refuses a bad tag, a short input and a wrong key", () => {
    const sealed = nodeAead.seal(key32, nonce, pingMin, noLabel);
    expect(sealed.length).toBe(pingMin.length + 16);
    const flipped = sealed.slice();
    flipped[flipped.length - 1]! ^= 1;
    expect(nodeAead.open(key32, nonce, flipped, noLabel)).toBeUndefined();
    expect(nodeAead.open(key32, nonce, sealed.subarray(0, 15), noLabel)).toBeUndefined();
    expect(nodeAead.open(bytesOf("x".repeat(32)), nonce, sealed, noLabel)).toBeUndefined();
    expect(hex(nodeAead.open(key32, nonce, sealed, noLabel)!)).toBe(hex(pingMin));
  });
});

describe("keyring", () => {
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(16).fill(2);
  const c = new Uint8Array(24).fill(3);

  test("install, use, remove: the rotation sequence", () => {
    let keyring = ring(a);
    const installed = installKey(keyring, b);
    expect(installed.ok).toBe(true);
    if (!installed.ok) return;
    keyring = installed.keyring;
    expect(keyring.keys.map(hex)).toEqual([hex(a), hex(b)]);
    const used = useKey(keyring, b);
    expect(used.ok && used.keyring.keys.map(hex)).toEqual([hex(b), hex(a)]);
    if (!used.ok) return;
    const removed = removeKey(used.keyring, a);
    expect(removed.ok && removed.keyring.keys.map(hex)).toEqual([hex(b)]);
  });

  test("clear errors", () => {
    const keyring = ring(a, b);
    expect(installKey(keyring, new Uint8Array(20))).toEqual({ ok: false, error: "key is 20 bytes; keys must be 16, 24 or 32 bytes (AES-128, AES-192, AES-256)" });
    expect(installKey(keyring, b)).toEqual({ ok: false, error: "key is already installed" });
    expect(removeKey(keyring, a)).toEqual({ ok: false, error: "removing the primary key is not allowed; make another key primary first" });
    expect(removeKey(keyring, c)).toEqual({ ok: false, error: "requested key is not in the keyring" });
    expect(useKey(keyring, c)).toEqual({ ok: false, error: "requested key is not in the keyring" });
    expect(createKeyring([])).toEqual({ ok: false, error: "a keyring needs at least one key" });
    expect(createKeyring([a, a])).toEqual({ ok: false, error: "key 2: key is already installed" });
  });

  test("keys are copied, so later changes to the caller's array do not leak in", () => {
    const mine = new Uint8Array(16).fill(5);
    const keyring = ring(mine);
    mine.fill(6);
    expect(keyring.keys[0]![0]).toBe(5);
  });
});

describe("keyring file", () => {
  const k1 = encodeBase64(new Uint8Array(32).fill(1));
  const k2 = encodeBase64(new Uint8Array(16).fill(2));

  test("first key is primary; blank lines and comments are ignored", () => {
    const result = parseKeyringFile(`# gossip keys\n\n  ${k1}  \r\n# old key, remove after rotation\n${k2}\n`);
    expect(result.ok && result.keyring.keys.map(encodeBase64)).toEqual([k1, k2]);
  });

  test.each([
    ["not base64", `${k1}\nnot-a-key!\n`, "line 2: not a base64 key"],
    ["wrong length", `# c\n${encodeBase64(new Uint8Array(20))}`, "line 2: key is 20 bytes; keys must be 16, 24 or 32 bytes (AES-128, AES-192, AES-256)"],
    ["duplicate", `${k1}\n\n${k1}`, "line 3: the same key as line 1"],
    ["empty", "# nothing here\n\n", "the keyring file has no keys"],
    ["missing padding", k1.replace("=", ""), "line 1: not a base64 key"],
  ])("%s", (_name, text, error) => {
    expect(parseKeyringFile(text)).toEqual({ ok: false, error });
  });

  test("base64 matches the standard encoding", () => {
    for (let length = 0; length < 40; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 37 + length) & 0xff);
      const text = Buffer.from(bytes).toString("base64");
      expect(encodeBase64(bytes)).toBe(text);
      expect(hex(decodeBase64(text)!)).toBe(hex(bytes));
    }
    expect(decodeBase64("abc")).toBeUndefined();
    expect(decodeBase64("ab=c")).toBeUndefined();
  });
});
