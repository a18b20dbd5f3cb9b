// `constellation keyring list|install|use|remove [KEY]`: manage the gossip
// keyring of a running agent. Rotation: install the new key on every node,
// `use` it everywhere, then remove the old one.

import { exitOk, jsonFlag, apiFlag, configFlag, type Command } from "../command.ts";
import { ApiError, apiBaseUrl, getJson, postJson, readApiToken } from "../api-client.ts";
import { UsageError } from "../args.ts";
import type { KeyringView } from "../../api/models.ts";

function print(context: Parameters<Command["run"]>[0], view: KeyringView): void {
  if (context.args.flags.get("json")) return void context.out(`${JSON.stringify(view, null, 2)}\n`);
  if (!view.enabled) return void context.out("gossip encryption is off on this node\n");
  const lines = view.keys.map((k) => `${k.fingerprint}  ${k.bytes * 8}-bit${k.primary ? "  primary" : ""}`);
  context.out(`${lines.join("\n")}\n`);
}

export const keyringCommand: Command = {
  name: "keyring",
  summary: "List, install, use (make primary) or remove gossip keys on a running agent.",
  kind: "action",
  positionals: "list | install KEY | use KEY | remove KEY",
  details:
    "Keys are base64 (make one with `constellation keygen`) and never printed; list shows SHA-256 fingerprints.\n" +
    "Changes need the control API token: --token-file, default the agent's apiTokenFile.",
  flags: [
    jsonFlag,
    apiFlag,
    configFlag,
    { name: "token-file", kind: "string", value: "PATH", description: "File with the control API bearer token." },
  ],
  async run(context) {
    const [operation, key, extra] = context.args.positionals;
    if (operation === undefined || operation === "list") {
      print(context, (await getJson(context, "/api/v1/keyring")) as KeyringView);
      return exitOk;
    }
    if (operation !== "install" && operation !== "use" && operation !== "remove") {
      throw new UsageError(`unknown keyring operation "${operation}"; use list, install, use or remove`);
    }
    if (key === undefined || extra !== undefined) throw new UsageError(`keyring ${operation} takes exactly one KEY`);
    const token = readApiToken(context);
    const answer = await postJson(apiBaseUrl(context), `/api/v1/keyring/${operation}`, token, { key });
    const body = answer.body as KeyringView & { error?: string };
    if (!answer.ok) throw new ApiError(`keyring ${operation} refused (${answer.status}): ${body.error ?? answer.statusText}`);
    print(context, body);
    return exitOk;
  },
};
