/**
 * The small crypto interface the shared handshake runs on: Node's crypto in the CLI
 * (shared/crypto.ts, nodeSuite) and WebCrypto in the page (web/web-crypto.ts). Only
 * primitives live behind it; every byte layout and check is shared (key-schedule.ts,
 * key-exchange.ts), so the two sides cannot drift apart. Methods may answer at once
 * (Node) or with a promise (WebCrypto).
 */
export type Role = 'sender' | 'receiver';

type Maybe<T> = T | Promise<T>;

/** A fresh X25519 key: its public half, and the agreement with a peer's public key. */
export interface EphemeralKey {
  publicKey: Uint8Array;
  /** X25519(own private, peer public); throws or returns zeros on a bad key (checked by the caller too). */
  agree(peerPublic: Uint8Array): Maybe<Uint8Array>;
}

/** The long-term Ed25519 identity; its private half never leaves (non-extractable in the page). */
export interface IdentityKey {
  publicKey: Uint8Array;
  sign(message: Uint8Array): Maybe<Uint8Array>;
}

export interface CryptoSuite {
  newEphemeral(): Maybe<EphemeralKey>;
  /** Ed25519 verification; the caller has already refused small-order keys. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Maybe<boolean>;
  sha256(bytes: Uint8Array): Maybe<Uint8Array>;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Maybe<Uint8Array>;
}
