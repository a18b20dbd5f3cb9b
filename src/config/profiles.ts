// Named timing profiles. The gossip numbers are hashicorp/memberlist's
// DefaultLANConfig, DefaultWANConfig and DefaultLocalConfig; the Raft numbers
// follow the heartbeat of 50 ms named by the architecture document, with an
// election timeout that gives about one second of failover on a LAN. The
// dead-voter removal delay lets a rebooting machine come back without
// membership churn on lan and wan, and is short on local, where test labs
// kill nodes on purpose.

import type { GossipConfig, LeaseConfig, ProfileName, RaftConfig } from "./schema.ts";

export interface Profile {
  gossip: GossipConfig;
  raft: RaftConfig;
  lease: LeaseConfig;
}

export const profiles: Record<ProfileName, Profile> = {
  lan: {
    gossip: {
      probeIntervalMs: 1000,
      probeTimeoutMs: 500,
      indirectChecks: 3,
      gossipIntervalMs: 200,
      gossipNodes: 3,
      gossipToTheDeadMs: 30_000,
      retransmitMult: 4,
      suspicionMult: 4,
      suspicionMaxTimeoutMult: 6,
      awarenessMaxMultiplier: 8,
      pushPullIntervalMs: 30_000,
      tcpTimeoutMs: 10_000,
      packetBytesMax: 1400,
    },
    raft: { heartbeatIntervalMs: 50, electionTimeoutMs: 500, deadVoterRemoveMs: 30_000, snapshotEveryEntries: 10_000 },
    lease: { ttlMs: 2000, renewIntervalMs: 500, clockDriftMax: 0.01 },
  },
  wan: {
    gossip: {
      probeIntervalMs: 5000,
      probeTimeoutMs: 3000,
      indirectChecks: 3,
      gossipIntervalMs: 500,
      gossipNodes: 4,
      gossipToTheDeadMs: 60_000,
      retransmitMult: 4,
      suspicionMult: 6,
      suspicionMaxTimeoutMult: 6,
      awarenessMaxMultiplier: 8,
      pushPullIntervalMs: 60_000,
      tcpTimeoutMs: 30_000,
      packetBytesMax: 1400,
    },
    raft: { heartbeatIntervalMs: 200, electionTimeoutMs: 2500, deadVoterRemoveMs: 60_000, snapshotEveryEntries: 10_000 },
    lease: { ttlMs: 8000, renewIntervalMs: 2000, clockDriftMax: 0.01 },
  },
  local: {
    gossip: {
      probeIntervalMs: 1000,
      probeTimeoutMs: 200,
      indirectChecks: 1,
      gossipIntervalMs: 100,
      gossipNodes: 3,
      gossipToTheDeadMs: 15_000,
      retransmitMult: 2,
      suspicionMult: 3,
      suspicionMaxTimeoutMult: 6,
      awarenessMaxMultiplier: 8,
      pushPullIntervalMs: 15_000,
      tcpTimeoutMs: 1000,
      packetBytesMax: 1400,
    },
    raft: { heartbeatIntervalMs: 50, electionTimeoutMs: 300, deadVoterRemoveMs: 5_000, snapshotEveryEntries: 10_000 },
    lease: { ttlMs: 2000, renewIntervalMs: 500, clockDriftMax: 0.01 },
  },
};
