// The agent's configuration: one TypeBox schema, the single source of truth
// for the type, the documentation and the validation of every knob.
//
// Timing knobs live in three groups (gossip, raft, lease) whose defaults come
// from the selected profile (`lan`, `wan`, `local`, see profiles.ts); any
// field can still be set on its own. Every field says what it means, its unit
// and its default; derived quantities give their formula.

import { Type, type Static } from "@sinclair/typebox";

const Port = (description: string, defaultPort: number) =>
  Type.Integer({ minimum: 1, maximum: 65535, default: defaultPort, description: `${description} Default ${defaultPort}.` });

const PositiveMs = (description: string) => Type.Integer({ minimum: 1, maximum: 86_400_000, description });

export const ProfileName = Type.Union([Type.Literal("lan"), Type.Literal("wan"), Type.Literal("local")], {
  description:
    "Timing profile. `lan`: hashicorp/memberlist's LAN defaults and a one-second Raft failover; `wan`: for " +
    "Tailscale links between sites (slower probes, longer timeouts); `local`: one machine or a test lab " +
    "(fast timers). Default `lan`.",
});
export type ProfileName = Static<typeof ProfileName>;

export const GossipConfig = Type.Object(
  {
    probeIntervalMs: PositiveMs(
      "Time between failure-detector probes of one member, in ms, before Lifeguard's awareness scaling " +
        "(effective interval = probeIntervalMs x (awareness score + 1)). lan 1000, wan 5000, local 1000.",
    ),
    probeTimeoutMs: PositiveMs(
      "How long to wait for a direct ack before asking other members to probe indirectly, in ms; should be " +
        "about the 99th percentile round-trip time. lan 500, wan 3000, local 200.",
    ),
    indirectChecks: Type.Integer({
      minimum: 0,
      maximum: 16,
      description: "Members asked to probe a member that missed its direct ack. lan 3, wan 3, local 1.",
    }),
    gossipIntervalMs: PositiveMs(
      "Time between gossip rounds that send queued broadcasts, in ms. lan 200, wan 500, local 100.",
    ),
    gossipNodes: Type.Integer({
      minimum: 1,
      maximum: 64,
      description: "Members sent each gossip round (fan-out). lan 3, wan 4, local 3.",
    }),
    gossipToTheDeadMs: PositiveMs(
      "How long a dead member still receives gossip, so it can learn it was declared dead and refute, " +
        "in ms. lan 30000, wan 60000, local 15000.",
    ),
    retransmitMult: Type.Integer({
      minimum: 1,
      maximum: 32,
      description:
        "Broadcast retransmission factor: each broadcast is sent retransmitMult x ceil(log10(n + 1)) times " +
        "for a cluster of n members. lan 4, wan 4, local 2.",
    }),
    suspicionMult: Type.Integer({
      minimum: 1,
      maximum: 32,
      description:
        "Suspicion timeout factor: minimum timeout = suspicionMult x max(1, log10(n)) x probeIntervalMs; " +
        "Lifeguard wants suspicionMult - 2 independent confirmations to shrink the timeout to that minimum. " +
        "lan 4, wan 6, local 3.",
    }),
    suspicionMaxTimeoutMult: Type.Integer({
      minimum: 1,
      maximum: 64,
      description:
        "Upper bound of the suspicion timeout as a multiple of its minimum (maximum = minimum x this); " +
        "the timeout starts there and falls as confirmations arrive. 6 in every profile.",
    }),
    awarenessMaxMultiplier: Type.Integer({
      minimum: 1,
      maximum: 64,
      description:
        "Lifeguard local health: the probe interval and timeout are multiplied by up to this value when this " +
        "node is missing acks itself. 8 in every profile.",
    }),
    pushPullIntervalMs: PositiveMs(
      "Time between full-state exchanges with one random member (anti-entropy), in ms, for clusters up to " +
        "32 members; above that it is scaled by ceil(log2(n) - log2(32)) + 1. lan 30000, wan 60000, local 15000.",
    ),
    tcpTimeoutMs: PositiveMs(
      "Deadline for one stream exchange (push/pull, TCP fallback ping), in ms. lan 10000, wan 30000, local 1000.",
    ),
    packetBytesMax: Type.Integer({
      minimum: 512,
      maximum: 65_000,
      description:
        "Largest UDP datagram this node sends, in bytes, including encryption and label overhead; " +
        "1400 keeps packets inside a typical MTU (memberlist's UDPBufferSize). 1400 in every profile.",
    }),
  },
  { additionalProperties: false, description: "Gossip (SWIM, memberlist-compatible) timing and fan-out." },
);

export const RaftConfig = Type.Object(
  {
    heartbeatIntervalMs: PositiveMs(
      "Interval at which the Raft leader sends heartbeats, in ms. lan 50, wan 200, local 50.",
    ),
    electionTimeoutMs: PositiveMs(
      "Base election timeout in ms; each node waits a random time in [electionTimeoutMs, " +
        "2 x electionTimeoutMs) without hearing a leader before it campaigns. Must be at least 5 x " +
        "heartbeatIntervalMs. lan 500 (failover in about a second), wan 2500, local 300.",
    ),
  },
  { additionalProperties: false, description: "Raft timing: heartbeats and election timeouts." },
);

export const LeaseConfig = Type.Object(
  {
    ttlMs: PositiveMs(
      "Lifetime of a lease grant or renewal, in ms; a holder that cannot renew stops acting when it runs " +
        "out. lan 2000, wan 8000, local 2000.",
    ),
    renewIntervalMs: PositiveMs(
      "How often the holder renews, in ms; must be below ttlMs / 2 so one lost renewal is survivable. " +
        "lan 500, wan 2000, local 500.",
    ),
    clockDriftMax: Type.Number({
      minimum: 0,
      maximum: 0.5,
      description:
        "Largest relative difference between two nodes' clock rates (0.01 = 1 %); a new holder waits " +
        "ttlMs x (1 + clockDriftMax) after the previous holder's last renewal. 0.01 in every profile.",
    }),
  },
  { additionalProperties: false, description: "Time-bounded leases (lb_leader, dns_writer) on Raft." },
);

export const CloudflareConfig = Type.Object(
  {
    zoneId: Type.String({
      maxLength: 64,
      default: "",
      description: "Cloudflare zone id of `domain`. Empty: DNS runs in dry-run (the plan is computed, not written). Default empty.",
    }),
    apiTokenFile: Type.String({
      maxLength: 4096,
      default: "",
      description:
        "File holding the Cloudflare API token (must not be group- or world-readable). Default " +
        "`<secretsPath>/cf-api-token.txt`.",
    }),
  },
  { additionalProperties: false, description: "Cloudflare DNS, written only by the dns_writer lease holder." },
);

export const TraefikConfig = Type.Object(
  {
    entryPoints: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
      minItems: 1,
      maxItems: 16,
      default: ["websecure"],
      description: "Traefik entry points that public routers listen on. Default [\"websecure\"].",
    }),
    certResolver: Type.String({
      maxLength: 64,
      default: "letsencrypt",
      description: "Traefik certificate resolver for public routers; empty disables TLS on them. Default `letsencrypt`.",
    }),
  },
  { additionalProperties: false, description: "How generated Traefik routers are exposed." },
);

export const DockerConfig = Type.Object(
  {
    socketPath: Type.String({
      minLength: 1,
      maxLength: 4096,
      default: "/var/run/docker.sock",
      description: "Docker Engine API socket. When it does not exist the agent runs without container monitoring. Default /var/run/docker.sock.",
    }),
  },
  { additionalProperties: false, description: "The local Docker engine whose containers this agent watches." },
);

export const Config = Type.Object(
  {
    profile: ProfileName,
    nodeName: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: "^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$",
      description:
        "This node's name: a DNS label (letters, digits, inner hyphens; at most 63), unique in the cluster, " +
        "used in `<svc>.<node>.<domain>`. Default: the machine's hostname (first label).",
    }),
    bindAddr: Type.String({
      minLength: 1,
      maxLength: 64,
      description:
        "Address the gossip, Raft, control API and provider sockets bind to. Default 127.0.0.1 (loopback); " +
        "set it to this node's Tailscale address to form a cluster.",
    }),
    advertiseAddr: Type.String({
      maxLength: 64,
      description: "Address other nodes use to reach this one. Empty: bindAddr. Default empty.",
    }),
    gossipPort: Port("Gossip port (UDP and TCP).", 7946),
    raftPort: Port("Raft port (TCP).", 8300),
    apiPort: Port("Control API port (HTTP).", 8080),
    providerPort: Port("Traefik HTTP provider port.", 8081),
    join: Type.Array(Type.String({ minLength: 1, maxLength: 262 }), {
      maxItems: 64,
      description: "Seed members to join, as host:port (port defaults to gossipPort). Default none.",
    }),
    dataDir: Type.String({
      minLength: 1,
      maxLength: 4096,
      description:
        "Directory for Raft storage and node identity. Default /opt/constellation/data when run as root, " +
        "else ~/.local/share/constellation.",
    }),
    domain: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: "^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$",
      description: "Domain that services are published under (`<svc>.<domain>`). Default `localhost`.",
    }),
    publicIp: Type.String({
      maxLength: 64,
      description: "This node's public IP address for DNS records. Empty: detected, else none. Default empty.",
    }),
    priority: Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      description: "Leadership preference; lower is preferred. Default 100.",
    }),
    capabilities: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
      maxItems: 32,
      description: "Free-form capability tags gossiped with this node's metadata. Default none.",
    }),
    cordoned: Type.Boolean({ description: "A cordoned node receives no traffic and never leads. Default false." }),
    bootstrapExpect: Type.Integer({
      minimum: 1,
      maximum: 7,
      description:
        "Raft-capable members to wait for before the cluster bootstraps from exactly that set. Default 1 " +
        "(a one-node cluster).",
    }),
    maxVoters: Type.Integer({
      minimum: 1,
      maximum: 7,
      description: "Most Raft voters; kept odd. Default 5.",
    }),
    gossipKeyFile: Type.String({
      maxLength: 4096,
      description:
        "File with the gossip/Raft encryption keyring (base64 keys, one per line, first is primary; 16, 24 or " +
        "32 bytes each). Empty: unencrypted. Default empty.",
    }),
    apiTokenFile: Type.String({
      maxLength: 4096,
      description:
        "File with the bearer token that mutating control API calls must present. Default " +
        "`<secretsPath>/api-token.txt`.",
    }),
    secretsPath: Type.String({
      minLength: 1,
      maxLength: 4096,
      description: "Directory holding secret files. Default /opt/constellation/secrets.",
    }),
    stackName: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: "^[a-z0-9][a-z0-9_-]*$",
      description: "Prefix of Docker networks and resources that deploys create. Default `constellation`.",
    }),
    logLevel: Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error")], {
      description: "Least severe log level written. Default `info`.",
    }),
    gossip: GossipConfig,
    raft: RaftConfig,
    lease: LeaseConfig,
    cloudflare: CloudflareConfig,
    traefik: TraefikConfig,
    docker: DockerConfig,
  },
  { additionalProperties: false },
);

export type Config = Static<typeof Config>;
export type GossipConfig = Static<typeof GossipConfig>;
export type RaftConfig = Static<typeof RaftConfig>;
export type LeaseConfig = Static<typeof LeaseConfig>;
