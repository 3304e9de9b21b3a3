// The slots that request bodies under 64 KiB are read into (shared with the inference threads).
import { SharedBodies } from '../../container/src/shared-bodies';

describe('SharedBodies', () => {
  test('gives exactly-sized views of one SharedArrayBuffer, one slot each', () => {
    const bodies = new SharedBodies(4, 1024);
    const a = bodies.take(10)!;
    const b = bodies.take(1024)!;
    expect(a.byteLength).toBe(10);
    expect(b.byteLength).toBe(1024);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.buffer).toBe(b.buffer);
    expect(Math.abs(a.byteOffset - b.byteOffset)).toBeGreaterThanOrEqual(1024);
    expect(bodies.inUse).toBe(2);
  });

  test('refuses what does not fit and when every slot is taken, so the caller allocates its own', () => {
    const bodies = new SharedBodies(2, 1024);
    expect(bodies.take(1025)).toBeUndefined();
    const held = [bodies.take(1)!, bodies.take(1)!];
    expect(bodies.take(1)).toBeUndefined();
    bodies.release(held[0]);
    expect(bodies.take(1)).toBeDefined();
  });

  test('hands the most recently freed slot out first', () => {
    const bodies = new SharedBodies(8, 64);
    const a = bodies.take(5)!;
    const b = bodies.take(5)!;
    bodies.release(a);
    bodies.release(b);
    expect(bodies.take(5)!.byteOffset).toBe(b.byteOffset);
    expect(bodies.take(5)!.byteOffset).toBe(a.byteOffset);
  });

  test('a stale view released again does not free the slot that a newer body now holds', () => {
    const bodies = new SharedBodies(2, 64);
    const a = bodies.take(5)!;
    bodies.release(a);
    const b = bodies.take(5)!;
    expect(b.byteOffset).toBe(a.byteOffset);
    bodies.release(a);
    expect(bodies.inUse).toBe(1);
    // b's slot is not handed out again while b holds it.
    expect(bodies.take(5)!.byteOffset).not.toBe(b.byteOffset);
    expect(bodies.take(5)).toBeUndefined();
    // Nor does another view of the same bytes free it.
    bodies.release(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    expect(bodies.inUse).toBe(2);
    bodies.release(b);
    expect(bodies.inUse).toBe(1);
  });

  test('ignores a second release of the same slot, and bodies that are not its slots', () => {
    const bodies = new SharedBodies(2, 64);
    const a = bodies.take(5)!;
    bodies.release(a);
    bodies.release(a);
    expect(bodies.inUse).toBe(0);
    bodies.release(new Uint8Array(5));
    bodies.release(new Uint8Array(new SharedArrayBuffer(128), 64, 5));
    expect(bodies.inUse).toBe(0);
    // Both slots are still there, once each.
    const x = bodies.take(1)!;
    const y = bodies.take(1)!;
    expect(x.byteOffset).not.toBe(y.byteOffset);
    expect(bodies.take(1)).toBeUndefined();
  });
});
