// The agent's configuration: one TypeBox schema, the single source of truth
// for the type, the documentation and the validation of every knob.
//
// Timing knobs live in three groups (gossip, raft, lease) whose defaults come
// from the selected profile (`lan`, `wan`, `local`, see profiles.ts); any
// field can still be set on its own. Every field says what it means, its unit
// and its default; derived quantities give their formula.

import { Type, type Static } from "@sinclair/typebox";
import { leaseTtlMsMax } from "../lease/table.ts";

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
    deadVoterRemoveMs: PositiveMs(
      "How long gossip must have held a Raft voter or learner dead before the leader removes it from the " +
        "configuration (only while the voters that stay alive remain a majority), in ms. Shorter repairs the " +
        "quorum sooner; longer rides out reboots without membership churn. lan 30000, wan 60000, local 5000.",
    ),
    snapshotEveryEntries: Type.Integer({
      minimum: 16,
      maximum: 10_000_000,
      description:
        "Applied entries between two snapshots of the replicated state machine; after each snapshot the log " +
        "is compacted, keeping min(1024, snapshotEveryEntries / 2) entries for followers that lag a little. " +
        "10000 in every profile.",
    }),
  },
  { additionalProperties: false, description: "Raft timing (heartbeats, election timeouts), dead-member repair and snapshots." },
);

export const LeaseConfig = Type.Object(
  {
    ttlMs: Type.Integer({
      minimum: 1,
      // The lease table refuses longer grants, so no lease would ever be held.
      maximum: leaseTtlMsMax,
      description:
        "Lifetime of a lease grant or renewal, in ms; a holder that cannot renew stops acting when it runs " +
        `out. At most ${leaseTtlMsMax}. lan 2000, wan 8000, local 2000.`,
    }),
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

export const DockerRestartConfig = Type.Object(
  {
    dryRun: Type.Boolean({
      description:
        "Decide, log and record restarts of unhealthy containers without performing them (budget and backoff advance as if " +
        "they had happened). Default false.",
    }),
    graceMs: PositiveMs(
      "Least time after a container starts before it may be restarted for being unhealthy, in ms; a longer healthcheck " +
        "start period wins (grace = max(start period, graceMs)). Default 60000.",
    ),
    backoffBaseMs: PositiveMs(
      "Backoff between restarts of a container that stays unhealthy, in ms: the n-th restart of a streak waits " +
        "min(backoffMaxMs, backoffBaseMs x 2^(n-2)) after the one before; the first is immediate. Default 10000.",
    ),
    backoffMaxMs: PositiveMs("Longest backoff between two restarts of one container, in ms. Default 600000."),
    budgetPerHour: Type.Integer({
      minimum: 0,
      maximum: 1000,
      description: "Most restarts of one container in any sliding hour; past it the container is left unhealthy and said so. Default 5.",
    }),
    stopTimeoutSeconds: Type.Integer({
      minimum: 0,
      maximum: 3600,
      description: "Seconds a container gets to stop on restart before Docker kills it. Default 10.",
    }),
  },
  {
    additionalProperties: false,
    description: "Restarts of containers labelled deunhealth.restart.on.unhealthy=true when they are unhealthy.",
  },
);

export const DockerWarpConfig = Type.Object(
  {
    check: Type.Union([Type.Literal("auto"), Type.Literal("on"), Type.Literal("off")], {
      description:
        "WARP egress check. `auto`: check while a container of that name exists (and report it unhealthy if it " +
        "disappears); `on`: always report (unhealthy when the container is missing); `off`: never. Default `auto`.",
    }),
    containerName: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
      description: "Name of the WARP NAT gateway container. Default `warp-nat-gateway`.",
    }),
    traceUrl: Type.String({
      minLength: 8,
      maxLength: 2048,
      pattern: "^https?://[^\\s]+$",
      description:
        "URL fetched from inside the gateway (curl, else wget); it must answer warp=on or warp=plus. Default " +
        "https://cloudflare.com/cdn-cgi/trace.",
    }),
    intervalMs: PositiveMs("Time between two WARP checks, in ms. Default 30000."),
    timeoutMs: PositiveMs("Deadline of one WARP check (the request inside the gateway included), in ms. Default 10000."),
  },
  { additionalProperties: false, description: "The WARP gateway's egress check, published as this node's WARPHealth." },
);

export const DockerEdgeConfig = Type.Object(
  {
    containerName: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
      description: "Name of the edge proxy container that publishes the public ports while this node holds lb_leader. Default `traefik`.",
    }),
    bindings: Type.Array(Type.String({ minLength: 3, maxLength: 64 }), {
      maxItems: 8,
      description:
        "Port bindings the lb_leader's edge proxy publishes, as [hostIp:]hostPort:containerPort[/tcp|udp]. " +
        "Default [\"80:80\", \"443:443\"].",
    }),
  },
  { additionalProperties: false, description: "Load-balancer port binding of the edge proxy container." },
);

export const DockerConfig = Type.Object(
  {
    socketPath: Type.String({
      minLength: 1,
      maxLength: 4096,
      default: "/var/run/docker.sock",
      description:
        "Docker Engine API socket. While it does not exist the agent runs without container monitoring, says so, and " +
        "looks again with backoff. Default /var/run/docker.sock.",
    }),
    scopeLabel: Type.String({
      maxLength: 512,
      description:
        "Watch only containers carrying this label, written key=value (for several agents sharing one engine, as in " +
        "tests). Empty: every container. Default empty.",
    }),
    proxyNetwork: Type.String({
      maxLength: 255,
      description:
        "Network whose container addresses are published as endpoints (also matched as `<stackName>_<proxyNetwork>`); " +
        "a container's traefik.docker.network label wins, and a container on neither uses its first network. Default `publicnet`.",
    }),
    apiTimeoutMs: PositiveMs(
      "Deadline of one Docker API call, in ms (restarts get stopTimeoutSeconds on top); a slow daemon delays " +
        "monitoring by at most this per call and never blocks the agent. Default 5000.",
    ),
    resyncIntervalMs: PositiveMs(
      "Time between full resyncs (one list call; containers whose state changed are inspected), in ms, on top of the " +
        "event stream. Default 60000.",
    ),
    reconnectMinMs: PositiveMs(
      "First delay before reconnecting to a Docker engine that went away, in ms; it doubles up to reconnectMaxMs. Default 1000.",
    ),
    reconnectMaxMs: PositiveMs("Longest delay between reconnection attempts, in ms. Default 30000."),
    restart: DockerRestartConfig,
    warp: DockerWarpConfig,
    edge: DockerEdgeConfig,
  },
  { additionalProperties: false, description: "The local Docker engine whose containers this agent watches." },
);
export type DockerConfig = Static<typeof DockerConfig>;

/** The Docker section's defaults (a fresh object each call). */
export function dockerConfigDefaults(): DockerConfig {
  return {
    socketPath: "/var/run/docker.sock",
    scopeLabel: "",
    proxyNetwork: "publicnet",
    apiTimeoutMs: 5000,
    resyncIntervalMs: 60_000,
    reconnectMinMs: 1000,
    reconnectMaxMs: 30_000,
    restart: { dryRun: false, graceMs: 60_000, backoffBaseMs: 10_000, backoffMaxMs: 600_000, budgetPerHour: 5, stopTimeoutSeconds: 10 },
    warp: {
      check: "auto",
      containerName: "warp-nat-gateway",
      traceUrl: "https://cloudflare.com/cdn-cgi/trace",
      intervalMs: 30_000,
      timeoutMs: 10_000,
    },
    edge: { containerName: "traefik", bindings: ["80:80", "443:443"] },
  };
}

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
    providerBindAddrs: Type.Array(
      Type.String({
        minLength: 2,
        maxLength: 45,
        // IPv4 dotted quad, or IPv6 text; checked exactly when the provider starts.
        pattern: "^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$",
      }),
      {
        maxItems: 8,
        description:
          "Addresses the Traefik provider listens on, each on providerPort. Empty: loopback (bindAddr when it is a " +
          "loopback address, else 127.0.0.1), bindAddr, and the Docker bridge gateway (the IPAM gateway of Docker's " +
          "network `bridge`, e.g. 172.17.0.1, asked from docker.socketPath and looked up again every 30 s, so an engine " +
          "started later is picked up), so that Traefik on the host network polls 127.0.0.1 and a Traefik container on " +
          "the default bridge polls the gateway; a bindAddr of 0.0.0.0 or :: alone covers every address. A non-empty " +
          "list is used as given, without the gateway. Default empty.",
      },
    ),
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
