// A running hash of everything a simulation does, so two runs can be compared
// for exact equality without keeping the whole trace. 64 bits from two
// independent 32-bit FNV-1a lanes; collisions are irrelevant at test scale.

export class TraceHash {
  private a = 0x811c9dc5;
  private b = 0x01000193 ^ 0x5bd1e995;
  events = 0;
  /** The last few lines, printed when a run fails. */
  readonly recent: string[] = [];
  private static readonly recentMax = 40;

  record(line: string): void {
    this.events++;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      this.a = Math.imul(this.a ^ c, 0x01000193) >>> 0;
      this.b = Math.imul(this.b ^ c, 0x01000193 + 0x2f) >>> 0;
    }
    this.a = Math.imul(this.a ^ 0x0a, 0x01000193) >>> 0;
    this.b = Math.imul(this.b ^ 0x0a, 0x0100019d) >>> 0;
    this.recent.push(line);
    if (this.recent.length > TraceHash.recentMax) this.recent.shift();
  }

  digest(): string {
    return this.a.toString(16).padStart(8, "0") + this.b.toString(16).padStart(8, "0");
  }
}
