// `constellation raft peers | remove-peer | recover`: the operator's view of
// the Raft cluster and the two membership actions autopilot does not take on
// its own. `peers` and `remove-peer` talk to a running agent (remove-peer is
// sent on to the leader when the agent asked is not it); `recover` works
// offline on a stopped node's data directory.

import { existsSync } from "node:fs";
import { apiFlag, configFlag, exitFailure, exitOk, jsonFlag, type Command, type CommandContext } from "../command.ts";
import { ApiError, apiBaseUrl, getJson, postJson, readApiToken } from "../api-client.ts";
import { UsageError } from "../args.ts";
import { loadConfigFromEnvironment } from "../load-config.ts";
import { configFileFlag } from "../agent-flags.ts";
import { table } from "./members.ts";
import type { RaftErrorResponse, RaftPeersView, RemovePeerAccepted } from "../../api/raft-api.ts";
import { SqliteRaftStorage } from "../../adapters/raft-sqlite.ts";
import { latestConf, recoverAsSoleVoter } from "../../raft/index.ts";
import { raftDatabasePath, randomClusterId, readClusterFile, writeClusterFile } from "../../node/raft-files.ts";


export const raftPeersCommand: Command = {
  name: "raft peers",
  summary: "List Raft voters and learners: gossip state, replication progress, leader.",
  kind: "read",
  flags: [],
  async run(context) {
    const view = (await getJson(context, "/api/v1/raft/peers")) as RaftPeersView;
    if (context.args.flags.get("json")) return context.out(`${JSON.stringify(view, null, 2)}\n`), exitOk;
    if (view.cluster_id === null) {
      context.out(`${view.self} belongs to no Raft cluster yet (see \`constellation status\` for what it waits for)\n`);
      return exitOk;
    }
    context.out(`cluster ${view.cluster_id}, term ${view.term}, leader ${view.leader || "unknown"}, last index ${view.last_index}\n\n`);
    const rows = view.peers.map((peer) => [
      `${peer.id}${peer.self ? " (self)" : ""}`,
      peer.leader ? `${peer.suffrage} (leader)` : peer.suffrage,
      peer.gossip,
      peer.match === null ? "-" : String(peer.match),
      peer.priority === null ? "-" : String(peer.priority),
      peer.address ?? "-",
    ]);
    context.out(table(["NODE", "SUFFRAGE", "GOSSIP", "MATCH", "PRIORITY", "ADDRESS"], rows));
    return exitOk;
  },
};

async function postRemovePeer(base: string, token: string, id: string, force: boolean): Promise<{ status: number; body: RemovePeerAccepted & RaftErrorResponse }> {
  const answer = await postJson(base, "/api/v1/raft/remove-peer", token, { id, force });
  return { status: answer.status, body: answer.body as RemovePeerAccepted & RaftErrorResponse };
}

export const raftRemovePeerCommand: Command = {
  name: "raft remove-peer",
  summary: "Remove a voter or learner from the Raft configuration (a dead node, before autopilot would).",
  kind: "action",
  positionals: "NODE",
  details:
    "Sent to the leader (the agent asked forwards you there when it is not the leader). Refused for the last voter,\n" +
    "and for a node gossip says is alive unless --force: a live node would be added back as a learner at once, so\n" +
    "stop it first. Autopilot removes nodes dead longer than raft.deadVoterRemoveMs by itself.\n" +
    "Needs the control API token: --token-file, default the agent's apiTokenFile.",
  flags: [
    { name: "force", kind: "boolean", description: "Remove the node even though it is alive (or is the leader itself)." },
    { name: "token-file", kind: "string", value: "PATH", description: "File with the control API bearer token." },
    jsonFlag,
    apiFlag,
    configFlag,
  ],
  async run(context) {
    const [id, extra] = context.args.positionals;
    if (id === undefined || extra !== undefined) throw new UsageError("raft remove-peer takes exactly one NODE");
    const token = readApiToken(context);
    const force = context.args.flags.get("force") === true;
    let base = apiBaseUrl(context);
    let answer = await postRemovePeer(base, token, id, force);
    if (answer.status === 409 && answer.body.leader_api && answer.body.leader_api !== base) {
      context.err(`${answer.body.leader} is the leader; asking it at ${answer.body.leader_api}\n`);
      base = answer.body.leader_api;
      answer = await postRemovePeer(base, token, id, force);
    }
    if (answer.status !== 200) throw new ApiError(`raft remove-peer ${id} refused (${answer.status}): ${answer.body.error ?? "no reason given"}`);
    if (context.args.flags.get("json")) return context.out(`${JSON.stringify(answer.body, null, 2)}\n`), exitOk;
    context.out(`removal of ${id} proposed at index ${answer.body.index} (term ${answer.body.term}); it takes effect once committed\n`);
    return exitOk;
  },
};

const recoverWarning = (dataDir: string, node: string) =>
  [
    "WARNING: raft recover is for permanent loss of quorum only.",
    `It rewrites the Raft log in ${dataDir} so that ${node} becomes the single voter of a NEW cluster, keeping its`,
    "log and snapshot. Entries this node holds but that were never committed become committed; entries committed",
    "by other nodes but never received here are lost. The new cluster gets a new cluster id: the other nodes of the",
    "old cluster are refused by it until their data directories are wiped (raft.db and raft-cluster.json), after",
    "which they join the new cluster as learners. Never run it while the old cluster can still elect a leader.",
    "",
  ].join("\n");

export const raftRecoverCommand: Command = {
  name: "raft recover",
  summary: "Rebuild a Raft cluster from this node after permanent quorum loss (offline; the agent must be stopped).",
  kind: "action",
  details:
    "Run it on the node with the most complete log, with its agent stopped; it refuses while raft.db is in use.\n" +
    "This node becomes the single voter of a new configuration with a new cluster id; its log and snapshot are\n" +
    "kept. Then start its agent: it leads alone. The other nodes of the old cluster must be wiped (stop them,\n" +
    "delete raft.db, raft.db-wal and raft-cluster.json from their data directories, start them) or the new\n" +
    "cluster refuses them: they still advertise the old cluster id. Wiped nodes join as learners and are promoted.\n" +
    "Nothing is changed without --yes.",
  flags: [
    { name: "yes", kind: "boolean", description: "Really rewrite the configuration (without it, only the warning and the current state are shown)." },
    { name: "data-dir", kind: "string", value: "DIR", description: "The stopped node's data directory (default: from the configuration)." },
    { name: "node-name", kind: "string", value: "NAME", description: "The node's name (default: from the configuration)." },
    configFlag,
  ],
  async run(context) {
    const overrides: Record<string, string> = {};
    const dataDirFlag = context.args.flags.get("data-dir");
    const nodeFlag = context.args.flags.get("node-name");
    if (typeof dataDirFlag === "string") overrides.dataDir = dataDirFlag;
    if (typeof nodeFlag === "string") overrides.nodeName = nodeFlag;
    const { config } = loadConfigFromEnvironment(context.env, overrides, configFileFlag(context));
    const { dataDir, nodeName } = config;
    const path = raftDatabasePath(dataDir);
    if (!existsSync(path)) return fail(context, `no Raft log at ${path}: this data directory never held a Raft node (wrong --data-dir?)`);
    const file = readClusterFile(dataDir);
    if (!file.ok) return fail(context, file.error);
    if (file.record && file.record.node !== nodeName) {
      return fail(context, `${dataDir} holds the Raft state of node "${file.record.node}", not "${nodeName}"; pass --node-name ${file.record.node}`);
    }
    const opened = SqliteRaftStorage.open(path);
    if (!opened.ok) {
      if (opened.error.kind === "locked") {
        return fail(context, `${path} is locked: an agent (or another process) is using it. Stop the agent on this node first; raft recover works offline`);
      }
      return fail(context, opened.error.message);
    }
    const storage = opened.storage;
    try {
      const hard = storage.hardState();
      const lastIndex = storage.lastIndex();
      if (lastIndex === 0) return fail(context, `${path} holds no Raft log: this node never belonged to a cluster, so there is nothing to recover`);
      const conf = latestConf(storage);
      context.err(recoverWarning(dataDir, nodeName));
      context.out(
        `node ${nodeName}, cluster ${file.record?.cluster_id ?? "unknown"}: term ${hard.term}, commit ${hard.commit}, last index ${lastIndex}, ` +
          `snapshot at ${storage.snapshot().meta.index}\nvoters: ${conf.voters.join(", ") || "none"}; learners: ${conf.learners.join(", ") || "none"}\n`,
      );
      if (context.args.flags.get("yes") !== true) {
        context.err("Nothing was changed. Run again with --yes to make this node the single voter of a new cluster.\n");
        return exitFailure;
      }
      // The new id is written first: should the log rewrite then fail, the
      // node is refused by its old cluster rather than rejoining it with a
      // half-rewritten history, and running recover again finishes the job.
      const clusterId = randomClusterId();
      writeClusterFile(dataDir, { cluster_id: clusterId, node: nodeName });
      const result = recoverAsSoleVoter(storage, nodeName);
      if (!result.ok) return fail(context, result.error);
      context.out(
        `recovered: ${nodeName} is the single voter of cluster ${clusterId} (configuration at index ${result.index}, term ${result.term}` +
          `${result.uncommittedAdopted > 0 ? `; ${result.uncommittedAdopted} uncommitted entries kept as committed` : ""}).\n` +
          "Start the agent on this node; it leads alone. Wipe raft.db, raft.db-wal and raft-cluster.json from the other\n" +
          "nodes' data directories before restarting them, or the new cluster refuses them.\n",
      );
      return exitOk;
    } catch (error) {
      return fail(context, (error as Error).message);
    } finally {
      storage.close();
    }
  },
};

function fail(context: CommandContext, message: string): number {
  context.err(`constellation raft recover: ${message}\n`);
  return exitFailure;
}
