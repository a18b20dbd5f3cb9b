// Textual IP address checks without I/O, for configuration and wire codecs.

const ipv4Pattern = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(text: string): boolean {
  return ipv4Pattern.test(text);
}

export function isIPv6(text: string): boolean {
  if (text.length < 2 || text.length > 45) return false;
  let body = text;
  // An embedded dotted IPv4 tail counts as two groups.
  let tailGroups = 0;
  const lastColon = body.lastIndexOf(":");
  const tail = body.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!isIPv4(tail)) return false;
    body = `${body.slice(0, lastColon + 1)}0`;
    tailGroups = 1;
  }
  const halves = body.split("::");
  if (halves.length > 2) return false;
  const groupsOf = (part: string) => (part === "" ? [] : part.split(":"));
  const groups = halves.flatMap(groupsOf);
  if (!groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  const count = groups.length + tailGroups;
  return halves.length === 2 ? count <= 7 : count === 8;
}

export function isIP(text: string): boolean {
  return isIPv4(text) || isIPv6(text);
}

/** Splits "host:port" or "[v6]:port"; the port is optional and then `defaultPort`. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } | string {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return `"${text}": unterminated [IPv6] address`;
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) return `"${text}": expected ":port" after "]"`;
    portText = rest === "" ? undefined : rest.slice(1);
    if (!isIPv6(host)) return `"${text}": "${host}" is not an IPv6 address`;
  } else {
    const parts = text.split(":");
    if (parts.length > 2) return `"${text}": write IPv6 addresses as [address]:port`;
    host = parts[0] ?? "";
    portText = parts[1];
  }
  if (host === "") return `"${text}": empty host`;
  if (!/^[A-Za-z0-9.:_-]+$/.test(host)) return `"${text}": host contains characters not allowed in a name or address`;
  if (portText === undefined) return { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(portText)) return `"${text}": port "${portText}" is not a number`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `"${text}": port ${port} is outside 1-65535`;
  return { host, port };
}

/** The 4 (IPv4) or 16 (IPv6) network-order bytes of a textual address, or undefined if it is not one. */
export function ipToBytes(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split(".").map(Number));
  if (!isIPv6(text)) return undefined;
  let body = text;
  const tail: number[] = [];
  const lastColon = body.lastIndexOf(":");
  if (body.slice(lastColon + 1).includes(".")) {
    tail.push(...body.slice(lastColon + 1).split(".").map(Number));
    body = body.slice(0, lastColon + 1) + "0:0";
  }
  const [head = "", rest] = body.split("::") as [string, string | undefined];
  const headGroups = head === "" ? [] : head.split(":");
  const restGroups = rest === undefined || rest === "" ? [] : rest.split(":");
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...(rest === undefined ? [] : new Array<string>(missing).fill("0")), ...restGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  if (tail.length === 4) bytes.set(tail, 12);
  return bytes;
}

/** Text of a 4- or 16-byte address (IPv6 in full lower-case groups, zeros compressed once). */
export function bytesToIp(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Compress the longest run of two or more zero groups, as RFC 5952 asks.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** "ip:port", with IPv6 in brackets: the form every transport address takes in the agent. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The sentence for a listener `who` (gossip, raft, provider, ...) that could
 * not bind `host`:`port`: a port already in use names the setting to change
 * (`portKey`); anything else keeps the system's reason. Bun puts the reason
 * in `code` and says only "Failed to listen at <host>".
 */
export function listenFailure(who: string, host: string, port: number, portKey: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const inUse = (error as { code?: string } | undefined)?.code === "EADDRINUSE" || /in use|EADDRINUSE/i.test(message);
  return new Error(
    inUse
      ? `${who}: port ${port} on ${host} is already in use; choose another ${portKey}`
      : `${who}: cannot listen on ${formatHostPort(host, port)}: ${message}`,
  );
}
