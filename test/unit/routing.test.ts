import { crc32, firstChoice, holderSlots, routingKey } from '../../container/src/cluster/routing';

describe('multi-model routing (the hash nginx uses for /models/<name>/invoke)', () => {
  test('crc32 is the IEEE CRC-32 that nginx and zlib compute', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('')).toBe(0);
  });

  test('the first choice is ((crc32(key) >> 16) & 0x7fff) % workers, as ngx_http_upstream_hash_module computes it', () => {
    for (const key of ['a#0', 'model-17#1', 'x'.repeat(300)]) {
      expect(firstChoice(key, 7)).toBe(((crc32(key) >>> 16) & 0x7fff) % 7);
    }
    expect(routingKey('m', 2)).toBe('m#2');
  });

  test('holders: one slot per copy, distinct, in range', () => {
    for (let i = 0; i < 200; i++) {
      const slots = holderSlots(`model${i}`, 4, 2);
      expect(slots.length).toBeGreaterThanOrEqual(1);
      expect(slots.length).toBeLessThanOrEqual(2);
      expect(new Set(slots).size).toBe(slots.length);
      expect(slots.every((s) => s >= 0 && s < 4)).toBe(true);
    }
    expect(holderSlots('any', 1, 1)).toEqual([0]);
    // Spread: 400 models over 4 workers land on every worker.
    const used = new Set(Array.from({ length: 400 }, (_, i) => holderSlots(`m${i}`, 4, 1)[0]));
    expect(used.size).toBe(4);
  });
});
