// The trainer's random numbers: xoshiro128** with its whole state in four 32-bit words, so a checkpoint can
// save the state and a resumed job draws exactly the numbers an uninterrupted one would.

export class Random {
  private readonly s: Uint32Array;

  constructor(seed: number | readonly number[]) {
    this.s = new Uint32Array(4);
    if (typeof seed === 'number') {
      // splitmix32 spreads a small seed over the four words (all-zero state is the one xoshiro cannot leave).
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        this.s[i] = (z ^ (z >>> 16)) >>> 0;
      }
      if (this.s.every((w) => w === 0)) this.s[0] = 1;
    } else {
      if (seed.length !== 4) throw new Error('a random state is four 32-bit words');
      this.s.set(seed);
    }
  }

  /** The state, for a checkpoint. */
  state(): number[] {
    return Array.from(this.s);
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform number in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, n), without modulo bias. */
  below(n: number): number {
    const limit = 4294967296 - (4294967296 % n);
    let x: number;
    do x = this.nextUint32();
    while (x >= limit);
    return x % n;
  }

  /** Shuffles `a` in place (Fisher-Yates, as std::shuffle). */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
