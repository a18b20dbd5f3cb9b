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
