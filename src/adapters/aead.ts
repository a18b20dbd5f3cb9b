// The production AEAD for gossip encryption: AES-GCM from node:crypto, with
// AES-128, AES-192 or AES-256 chosen by the key's length like Go's
// aes.NewCipher, a 12-byte nonce and a 16-byte tag appended to the
// ciphertext (the layout Go's cipher.AEAD.Seal produces). The gossip core
// (src/gossip/security.ts) only sees the Aead interface.

import { createCipheriv, createDecipheriv, type CipherGCMTypes } from "node:crypto";
import { assert } from "../lib/assert.ts";
import { tagBytes, type Aead } from "../gossip/security.ts";

function cipherFor(key: Uint8Array): CipherGCMTypes {
  switch (key.length) {
    case 16:
      return "aes-128-gcm";
    case 24:
      return "aes-192-gcm";
    case 32:
      return "aes-256-gcm";
    default:
      assert(false, `AES-GCM key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

export const nodeAead: Aead = {
  seal(key, nonce, plaintext, aad) {
    const cipher = createCipheriv(cipherFor(key), key, nonce, { authTagLength: tagBytes });
    cipher.setAAD(aad);
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    const sealed = new Uint8Array(head.length + tail.length + tag.length);
    sealed.set(head);
    sealed.set(tail, head.length);
    sealed.set(tag, head.length + tail.length);
    return sealed;
  },

  open(key, nonce, sealed, aad) {
    if (sealed.length < tagBytes) return undefined;
    const decipher = createDecipheriv(cipherFor(key), key, nonce, { authTagLength: tagBytes });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - tagBytes));
    const head = decipher.update(sealed.subarray(0, sealed.length - tagBytes));
    try {
      const tail = decipher.final();
      const plaintext = new Uint8Array(head.length + tail.length);
      plaintext.set(head);
      plaintext.set(tail, head.length);
      return plaintext;
    } catch {
      // Authentication failed: wrong key, wrong additional data, or tampering.
      return undefined;
    }
  },
};
