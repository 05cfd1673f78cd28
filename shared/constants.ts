/** Protocol and tuning constants shared by the rendezvous and the peer. */
/** The peer-to-peer protocol (docs/PROTOCOL.md); both peers of a session must speak the same one. */
export const PROTOCOL_VERSION = 2;

/**
 * Plaintext bytes per encrypted chunk. Each wrtc send costs a synchronous hop to
 * its network thread, so fewer, larger messages are faster; 128 KiB keeps a frame
 * well under the data channel's 256 KiB message limit.
 */
export const CHUNK_SIZE = 128 * 1024;
/** Bytes of frame header before the ciphertext (see framing.ts). */
export const FRAME_HEADER_SIZE = 14;
export const GCM_TAG_SIZE = 16;
/** Largest frame a peer or the relay accepts; checked before any allocation or decryption. */
export const MAX_FRAME_SIZE = FRAME_HEADER_SIZE + CHUNK_SIZE + GCM_TAG_SIZE;
/** Largest control message (a manifest of many files); it spans several control frames. */
export const MAX_CONTROL_SIZE = 16 * 1024 * 1024;
/** Bytes the sender may have in flight before the receiver reports them written. */
export const FLOW_WINDOW = 8 * 1024 * 1024;
/**
 * Every wait on the other peer is bounded (docs/PROTOCOL.md, "Timeouts"). A peer that
 * owes us its next message (a request, data, hashes, a credit) and sends nothing for
 * this long fails the session: a stalled or hostile peer holds nobody for more than seconds.
 */
export const PEER_STALL_MS = 30_000;
/** How long a person is given to accept an offer before it is declined (`receive --ask-timeout`). */
export const CONSENT_TIMEOUT_MS = 3 * 60_000;
/** Longest consent wait a receiver may configure; the sender waits for an answer this long plus a margin. */
export const MAX_CONSENT_TIMEOUT_MS = 4 * 60_000;
/**
 * `--verify`: how long a side waits for the other side's person to confirm the code. It is the
 * other peer that says its person is being asked, so this is a wait a peer controls: a minute.
 */
export const PEER_VERIFY_TIMEOUT_MS = 60_000;
/** The sender's wait for accept or decline: a person may be reading the offer. */
export const ANSWER_TIMEOUT_MS = MAX_CONSENT_TIMEOUT_MS + 30_000;
/** The longest `--timeout` a sender may give the direct path; the receiver's wait for its choice follows from it. */
export const MAX_DIRECT_TIMEOUT_MS = 30_000;
/**
 * Frames a transport holds before the secure channel takes over: at most the first
 * control message (the only thing a peer may send that early) and its framing.
 */
export const MAX_EARLY_BYTES = MAX_CONTROL_SIZE + 1024 * 1024;
/** Control messages that may wait unread (e.g. credits in a burst); more is a protocol error, not a queue. */
export const MAX_QUEUED_CONTROL = 64;
/**
 * The receiver reports progress (credit) each time this many more bytes are written: a quarter
 * of FLOW_WINDOW, so the sender never waits on a credit while one is due. Over the relay each
 * credit is two more relay messages and an ack; at 2 MiB instead of 512 KiB the three processes
 * of a relay transfer spent 12% less CPU per MB (bench/profile.js, 5 interleaved runs).
 */
export const CREDIT_EVERY = 2 * 1024 * 1024;
/**
 * …or once this long has passed since the last credit, whichever comes first (checked after each
 * chunk): on a slow path the sender still hears from the receiver about twice a second, which is
 * how it tells a slow path from a stalled one (peer/link/path-mover.ts, 3 s of silence).
 */
export const CREDIT_INTERVAL_MS = 500;

/** Whether the side taking the files owes a credit now: CREDIT_EVERY more bytes, or CREDIT_INTERVAL_MS since the last. */
export function creditDue(taken: number, credited: number, msSinceCredit: number): boolean {
  return taken - credited >= CREDIT_EVERY || (taken > credited && msSinceCredit >= CREDIT_INTERVAL_MS);
}

export const TOTP_STEP_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps of clock skew tolerated either side. */
export const TOTP_WINDOW = 1;

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 50000;
/** Largest Socket.IO message the rendezvous accepts after a login: a large relay batch (2,097,696 bytes, shared/relay-batch.ts) and room to spare. */
export const MAX_SOCKET_MESSAGE = 2112 * 1024;
/** Largest serialized signaling payload forwarded between peers. */
export const MAX_SIGNAL_SIZE = 32 * 1024;

export const ACCOUNT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,31}$/;
