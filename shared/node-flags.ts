/**
 * The node flags both commands run with: bin/sealdrop.js and
 * bin/sealdrop-rendezvous.js start node with exactly these (a test holds them to
 * it), and the benchmarks and the demo start the CLIs the same way.
 *
 * --initial-heap-size=64: every relayed or received chunk is a fresh 128 KiB
 * ArrayBuffer, and with V8's default limits for a small (~10 MB) heap that churn
 * set off a full mark-compact every few MB moved, 25–35 per 256 MiB in each
 * process. With a 64 MB starting limit young-generation scavenges free those
 * buffers instead: a relay transfer costs 17 instead of 26 ms of CPU per MB over
 * its three processes (bench/profile.js --node-args), at the same peak RSS.
 */
export const NODE_FLAGS = ['--initial-heap-size=64'] as const;
