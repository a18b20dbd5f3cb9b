// Container labels as this agent reads them: which service a container is,
// whether it asked to be restarted when unhealthy, which network Traefik
// should reach it on, and which labels travel with its record in the
// replicated state. Labels come from whoever can start a container, so every
// value is held to a size and a pattern; anything off becomes a problem that
// names the label, quotes the value (cut short) and says what happens
// instead. Nothing here throws on bad input.
//
// Service identity, in order:
//   1. the `constellation.service` label;
//   2. the `com.docker.compose.service` label (Compose sets it);
//   3. the container's name, whole (Docker's leading "/" removed). It is
//      never split on "_" or "-": `shop_web_1` is the service `shop_web_1`.
//      Docker keeps names unique per engine, so two containers on one node
//      never collide by this rule.
// The first rule whose label is present decides; a present but invalid value
// (see `serviceNamePattern`) leaves the container unpublished with a problem,
// rather than falling through to a name the operator did not choose.

import { parseBool } from "../routing/labels.ts";

export const labelNames = {
  service: "constellation.service",
  composeService: "com.docker.compose.service",
  restartOnUnhealthy: "deunhealth.restart.on.unhealthy",
  dockerNetwork: "traefik.docker.network",
} as const;

/** ServiceHealth.service_name's schema: a letter or digit, then letters, digits, "_", "." and "-". */
export const serviceNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const serviceNameMax = 128;

/** Label key prefixes whose labels are published with the instance (the routing layer reads them). */
export const publishedLabelPrefixes = ["traefik.", "constellation.", "deunhealth."] as const;
/** Bounds of the published labels; the replicated record allows 64 of 256 + 1024 characters. */
export const publishedLabelsMax = 64;
export const labelKeyMax = 256;
export const labelValueMax = 1024;
/**
 * Characters of published labels per instance (keys and values). A gossip
 * delta is at most 8 KiB, and the instance record also carries endpoints and
 * networks; past this the rest of the labels are left out.
 */
export const publishedLabelsCharsMax = 4096;
/** Labels examined per container at all; a container with more is reported. */
export const labelsReadMax = 512;
/** Problems kept per container; the count of the rest is noted. */
export const labelProblemsMax = 16;

export type ServiceIdentity =
  | { kind: "service"; name: string; source: "constellation.service" | "com.docker.compose.service" | "container name" }
  | { kind: "invalid"; problem: string };

export interface LabelReading {
  /** traefik.*, constellation.* and deunhealth.* labels within bounds, in sorted key order. */
  published: Record<string, string>;
  /** The deunhealth.restart.on.unhealthy label parsed; false when absent or malformed. */
  restartOnUnhealthy: boolean;
  /** The traefik.docker.network label, when present and well-formed. */
  dockerNetwork: string | undefined;
  problems: string[];
}

/** A value as a problem message quotes it: JSON-escaped and cut to 60 characters. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
}

function checkServiceName(name: string, source: string): string | undefined {
  if (name.length === 0) return `${source} is empty`;
  if (name.length > serviceNameMax) return `${source} is ${name.length} characters long; a service name has at most ${serviceNameMax}`;
  if (!serviceNamePattern.test(name)) {
    return `${source} ${quote(name)} is not a service name (a letter or digit, then letters, digits, "_", "." or "-")`;
  }
  return undefined;
}

/** Which service a container belongs to; see the rule at the top of this file. */
export function serviceIdentity(containerName: string, labels: Readonly<Record<string, string>>): ServiceIdentity {
  for (const source of [labelNames.service, labelNames.composeService] as const) {
    const value = labels[source];
    if (value === undefined) continue;
    const problem = checkServiceName(value, `label ${source}`);
    return problem ? { kind: "invalid", problem: `${problem}; the container is not published` } : { kind: "service", name: value, source };
  }
  const name = containerName.startsWith("/") ? containerName.slice(1) : containerName;
  const problem = checkServiceName(name, "the container name");
  if (problem) {
    return { kind: "invalid", problem: `${problem}; set the label ${labelNames.service} to publish it` };
  }
  return { kind: "service", name, source: "container name" };
}

class Problems {
  readonly list: string[] = [];
  private dropped = 0;
  add(message: string): void {
    if (this.list.length < labelProblemsMax) this.list.push(message);
    else this.dropped++;
  }
  done(): string[] {
    if (this.dropped > 0) this.list.push(`... and ${this.dropped} more label problems`);
    return this.list;
  }
}

function isPublishedKey(key: string): boolean {
  const lower = key.toLowerCase();
  return publishedLabelPrefixes.some((prefix) => lower.startsWith(prefix));
}

// Control characters have no business in a label that ends up in a log line or a Traefik document.
const controlCharacters = /[\u0000-\u001f\u007f]/;

/** Reads the labels this agent uses; see LabelReading. */
export function readLabels(labels: Readonly<Record<string, string>>): LabelReading {
  const problems = new Problems();
  const allKeys = Object.keys(labels).sort();
  if (allKeys.length > labelsReadMax) {
    problems.add(`the container has ${allKeys.length} labels; only the first ${labelsReadMax} in sorted order are read`);
  }
  const keys = allKeys.slice(0, labelsReadMax);
  const published: Record<string, string> = {};
  let publishedCount = 0;
  let publishedChars = 0;
  let leftOut = 0;
  for (const key of keys) {
    if (!isPublishedKey(key)) continue;
    const value = labels[key]!;
    if (key.length > labelKeyMax) {
      problems.add(`label key ${quote(key)} is ${key.length} characters long, more than ${labelKeyMax}; ignored`);
      continue;
    }
    if (value.length > labelValueMax) {
      problems.add(`label ${key} is ${value.length} characters long, more than ${labelValueMax}; ignored`);
      continue;
    }
    if (controlCharacters.test(key) || controlCharacters.test(value)) {
      problems.add(`label ${quote(key)} contains control characters; ignored`);
      continue;
    }
    if (publishedCount >= publishedLabelsMax || publishedChars + key.length + value.length > publishedLabelsCharsMax) {
      leftOut++;
      continue;
    }
    published[key] = value;
    publishedCount++;
    publishedChars += key.length + value.length;
  }
  if (leftOut > 0) {
    problems.add(
      `${leftOut} routing labels left out: an instance carries at most ${publishedLabelsMax} labels of ` +
        `${publishedLabelsCharsMax} characters in all (sorted by key, the first ones are kept)`,
    );
  }
  return {
    published,
    restartOnUnhealthy: readRestartLabel(labels, problems),
    dockerNetwork: readNetworkLabel(labels, problems),
    problems: problems.done(),
  };
}

function readRestartLabel(labels: Readonly<Record<string, string>>, problems: Problems): boolean {
  const value = labels[labelNames.restartOnUnhealthy];
  if (value === undefined) return false;
  const parsed = parseBool(value.trim());
  if (parsed === undefined) {
    problems.add(`label ${labelNames.restartOnUnhealthy} = ${quote(value)}: expected true or false; the container is not restarted`);
    return false;
  }
  return parsed;
}

// Docker network names: a letter or digit, then letters, digits, "_", "." and "-".
const networkNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

function readNetworkLabel(labels: Readonly<Record<string, string>>, problems: Problems): string | undefined {
  const value = labels[labelNames.dockerNetwork];
  if (value === undefined) return undefined;
  if (!networkNamePattern.test(value)) {
    problems.add(`label ${labelNames.dockerNetwork} = ${quote(value)} is not a network name; the proxy network is used`);
    return undefined;
  }
  return value;
}

/** "key=value" (the value may be empty) for the scope option; a string says what is wrong. */
export function parseScopeLabel(text: string): { key: string; value: string } | string {
  const equals = text.indexOf("=");
  if (equals <= 0) return `expected key=value, got ${quote(text)}`;
  const key = text.slice(0, equals);
  const value = text.slice(equals + 1);
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(key)) return `label key ${quote(key)} may hold only letters, digits, ".", "_", "/" and "-"`;
  if (controlCharacters.test(value) || value.includes(",")) return `label value ${quote(value)} may not hold control characters or ","`;
  return { key, value };
}
