/**
 * This rendezvous as one node of a cluster (`serve --redis`): its presence in Redis, its way to
 * the other nodes (pub/sub), and the relay quota counted across them, started and stopped
 * together. server.ts wires what the messages from other nodes reach.
 */
import { ClusterPresence } from './cluster-presence.js';
import type { Logger } from '../log.js';
import { NodeBus } from './node-bus.js';
import type { Received } from './node-messages.js';
import type { Presence } from '../sessions/presence.js';
import type { RedisLink } from './redis-link.js';
import { RedisRelayUsage } from './redis-relay-usage.js';

export class ClusterNode {
  readonly bus: NodeBus;
  readonly presence: ClusterPresence;
  readonly usage: RedisRelayUsage;

  /** `onNodesGone`: nodes that stopped beating (their peers are gone, and every session with them). */
  constructor(link: RedisLink, local: Presence, logger: Logger, now: () => number, onNodesGone: (nodes: string[]) => void) {
    this.bus = new NodeBus(link, logger);
    this.usage = new RedisRelayUsage(link, logger, now);
    this.presence = new ClusterPresence(link, this.bus.nodeId, local, logger, (gone) => {
      onNodesGone(gone);
      for (const node of gone) this.bus.forgetNode(node);
    });
    local.joinCluster({ presence: this.presence, replaceAt: (node, id) => this.bus.tell(node, { t: 'replace', id }) });
  }

  async start(fromNode: (received: Received) => void): Promise<void> {
    this.bus.listen(fromNode);
    await this.presence.start();
    this.usage.start();
  }

  /** The other nodes hear of the sessions that ended with this node's connections. */
  async stop(): Promise<void> {
    await this.bus.close();
    await this.presence.stop();
    await this.usage.stop();
  }
}
