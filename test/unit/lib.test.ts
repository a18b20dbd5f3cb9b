import { describe, expect, test } from "bun:test";
import { Prng } from "../../src/lib/prng.ts";
import { TimerScheduler } from "../../src/lib/scheduler.ts";
import { BoundedMap, BoundedQueue } from "../../src/lib/bounded.ts";
import { Logger } from "../../src/lib/log.ts";
import { assert, AssertionError } from "../../src/lib/assert.ts";
import { isIP, isIPv4, isIPv6, parseHostPort } from "../../src/lib/ip.ts";

describe("Prng", () => {
  test("is reproducible from its seed and differs between seeds", () => {
    const a = new Prng(1234);
    const b = new Prng(1234);
    const c = new Prng(1235);
    const seqA = Array.from({ length: 100 }, () => a.nextU32());
    expect(Array.from({ length: 100 }, () => b.nextU32())).toEqual(seqA);
    expect(Array.from({ length: 100 }, () => c.nextU32())).not.toEqual(seqA);
  });

  test("int stays in range and is roughly uniform", () => {
    const prng = new Prng(7);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[prng.int(10)]++;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500);
    for (let i = 0; i < 1000; i++) {
      const x = prng.intBetween(-3, 3);
      expect(x >= -3 && x <= 3 && Number.isInteger(x)).toBe(true);
    }
  });

  test("rejects invalid bounds and probabilities", () => {
    const prng = new Prng(1);
    expect(() => prng.int(0)).toThrow(AssertionError);
    expect(() => prng.int(1.5)).toThrow(AssertionError);
    expect(() => prng.chance(1.1)).toThrow(AssertionError);
    expect(() => prng.pick([])).toThrow(AssertionError);
  });

  test("fork gives an independent, reproducible stream", () => {
    const x = new Prng(99).fork();
    const y = new Prng(99).fork();
    expect(x.nextU32()).toBe(y.nextU32());
  });
});

describe("TimerScheduler", () => {
  test("delivers by due time, then by scheduling order", () => {
    const timers = new TimerScheduler<string>();
    timers.schedule(20, "c");
    timers.schedule(10, "a");
    timers.schedule(10, "b");
    const cancelled = timers.schedule(5, "x");
    expect(timers.cancel(cancelled)).toBe(true);
    expect(timers.cancel(cancelled)).toBe(false);
    expect(timers.nextDueMs()).toBe(10);
    expect(timers.takeDue(15)).toEqual(["a", "b"]);
    expect(timers.takeDue(15)).toEqual([]);
    expect(timers.takeDue(20)).toEqual(["c"]);
    expect(timers.pending).toBe(0);
  });

  test("enforces its bound", () => {
    const timers = new TimerScheduler<number>(2);
    timers.schedule(1, 1);
    timers.schedule(2, 2);
    expect(() => timers.schedule(3, 3)).toThrow(/timers pending/);
  });
});

describe("bounded containers", () => {
  test("queue drops the oldest when full and counts it", () => {
    const queue = new BoundedQueue<number>(3);
    for (let i = 1; i <= 5; i++) queue.push(i);
    expect([...queue]).toEqual([3, 4, 5]);
    expect(queue.overflowCount).toBe(2);
    expect(queue.shift()).toBe(3);
    const strict = new BoundedQueue<number>(1, "reject");
    expect(strict.push(1)).toBe(true);
    expect(strict.push(2)).toBe(false);
    expect([...strict]).toEqual([1]);
  });

  test("map evicts the least recently written key", () => {
    const map = new BoundedMap<string, number>(2);
    map.set("a", 1);
    map.set("b", 2);
    map.set("a", 3);
    expect(map.set("c", 4)).toEqual(["b", 2]);
    expect([...map.keys()]).toEqual(["a", "c"]);
    expect(map.evictionCount).toBe(1);
  });
});

describe("Logger", () => {
  function capture(level: "debug" | "info" = "info") {
    const lines: string[] = [];
    const log = new Logger((line) => lines.push(line), { wallMs: () => 0 }, level);
    return { lines, log };
  }

  test("writes one JSON object per line with level and fields", () => {
    const { lines, log } = capture();
    log.debug("hidden");
    log.info("hello", { port: 7946 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({ ts: "1970-01-01T00:00:00.000Z", level: "info", msg: "hello", port: 7946 });
  });

  test("never writes secrets", () => {
    const { lines, log } = capture();
    log.registerSecret("s3cr3t-token-value");
    log.child({ component: "dns" }).warn("request failed with s3cr3t-token-value", {
      api_token: "abc123456789",
      headers: { Authorization: "Bearer xyz" },
      token_file: "/opt/constellation/secrets/cf-api-token.txt",
      detail: "sent s3cr3t-token-value",
    });
    const line = lines[0]!;
    expect(line).not.toContain("s3cr3t-token-value");
    expect(line).not.toContain("abc123456789");
    expect(line).not.toContain("Bearer xyz");
    const record = JSON.parse(line);
    expect(record.component).toBe("dns");
    expect(record.token_file).toBe("/opt/constellation/secrets/cf-api-token.txt");
  });
});

describe("ip helpers", () => {
  test.each([
    ["127.0.0.1", true, false],
    ["100.64.0.1", true, false],
    ["256.1.1.1", false, false],
    ["01.2.3.4", false, false],
    ["::1", false, true],
    ["fd7a:115c:a1e0::1", false, true],
    ["::ffff:1.2.3.4", false, true],
    ["1:2:3:4:5:6:7:8", false, true],
    ["1:2:3:4:5:6:7:8:9", false, false],
    ["localhost", false, false],
  ])("%s", (text, v4, v6) => {
    expect(isIPv4(text)).toBe(v4);
    expect(isIPv6(text)).toBe(v6);
    expect(isIP(text)).toBe(v4 || v6);
  });

  test("parseHostPort", () => {
    expect(parseHostPort("10.0.0.1", 7946)).toEqual({ host: "10.0.0.1", port: 7946 });
    expect(parseHostPort("node-a:8000", 7946)).toEqual({ host: "node-a", port: 8000 });
    expect(parseHostPort("[::1]:9", 7946)).toEqual({ host: "::1", port: 9 });
    expect(parseHostPort("a:99999", 1)).toContain("outside");
    expect(parseHostPort("::1", 1)).toContain("[address]:port");
  });
});

test("assert throws AssertionError with the message", () => {
  expect(() => assert(false, "boom")).toThrow("boom");
});
