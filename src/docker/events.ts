// Docker's event stream, pure half: the stream is JSON objects, one per line,
// arriving in arbitrary chunks. `EventLineSplitter` reassembles lines with a
// bound on a line's length (a longer one is dropped and reported, and the
// caller resynchronises); `parseEvent` keeps what the monitor needs; and
// `eventEffect` says what an event means: look at the container again, or
// forget it.

/** Actions the monitor subscribes to (Docker matches "health_status" against "health_status: healthy"). */
export const containerActions = ["create", "start", "restart", "die", "stop", "kill", "oom", "pause", "unpause", "rename", "update", "destroy", "health_status"] as const;
export const networkActions = ["connect", "disconnect"] as const;

/** Longest event line accepted; a container with huge labels makes long lines. */
export const eventLineBytesMax = 1024 * 1024;

export interface DockerEvent {
  type: "container" | "network";
  /** As Docker writes it, e.g. "health_status: unhealthy". */
  action: string;
  containerId: string;
  /** Container events: the container's labels and name; network events: the network's name and the container. */
  attributes: Record<string, string>;
}

export class EventLineSplitter {
  private buffer = "";
  private discarding = false;
  /** Lines dropped for being longer than eventLineBytesMax. */
  overlongLines = 0;

  constructor(private readonly lineMax = eventLineBytesMax) {}

  /** The complete lines in this chunk (and the ones it finishes). */
  push(chunk: string): string[] {
    const lines: string[] = [];
    let text = chunk;
    for (;;) {
      const newline = text.indexOf("\n");
      if (newline < 0) break;
      const piece = text.slice(0, newline);
      text = text.slice(newline + 1);
      if (this.discarding) {
        this.discarding = false;
        this.buffer = "";
        continue;
      }
      const line = this.buffer + piece;
      this.buffer = "";
      if (line.length > this.lineMax) this.overlongLines++;
      else if (line.trim() !== "") lines.push(line);
    }
    if (!this.discarding) {
      this.buffer += text;
      if (this.buffer.length > this.lineMax) {
        this.overlongLines++;
        this.discarding = true;
        this.buffer = "";
      }
    }
    return lines;
  }
}

export function parseEvent(line: string): DockerEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== "object") return undefined;
  const event = raw as Record<string, unknown>;
  const type = event.Type;
  const action = typeof event.Action === "string" ? event.Action : typeof event.status === "string" ? event.status : "";
  const actor = (event.Actor !== null && typeof event.Actor === "object" ? event.Actor : {}) as Record<string, unknown>;
  const attributesRaw = (actor.Attributes !== null && typeof actor.Attributes === "object" ? actor.Attributes : {}) as Record<string, unknown>;
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributesRaw)) if (typeof value === "string") attributes[key] = value;
  if (type === "container") {
    const id = typeof actor.ID === "string" ? actor.ID : typeof event.id === "string" ? event.id : "";
    return /^[0-9a-f]{12,64}$/.test(id) ? { type, action, containerId: id, attributes } : undefined;
  }
  if (type === "network") {
    const id = attributes.container ?? "";
    return /^[0-9a-f]{12,64}$/.test(id) ? { type, action, containerId: id, attributes } : undefined;
  }
  return undefined;
}

export type EventEffect = "inspect" | "forget" | "ignore";

export function eventEffect(event: DockerEvent): EventEffect {
  if (event.type === "network") return event.action === "connect" || event.action === "disconnect" ? "inspect" : "ignore";
  const action = event.action.split(":")[0]!.trim();
  if (action === "destroy") return "forget";
  return (containerActions as readonly string[]).includes(action) ? "inspect" : "ignore";
}
