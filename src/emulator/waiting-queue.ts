/** Something that waits in a {@link WaitingQueue}; the queue keeps its slot number on it. */
export interface QueueMember {
  queueSlot: number;
}

const COMPACT_AFTER_SLOTS = 4096;

/**
 * A FIFO queue that also answers "how many are ahead of me" in O(log n), so a status read never
 * scans the queue, and removes members from the middle (cancellation) in O(log n).
 * Slots are numbered in arrival order; a Fenwick tree counts the live members per slot.
 */
export class WaitingQueue<T extends QueueMember> {
  private slots: (T | undefined)[] = [];
  private head = 0;
  private tree = new Int32Array(1024);
  private live = 0;

  get size(): number {
    return this.live;
  }

  push(member: T): void {
    const slot = this.slots.length;
    // grow before the new member is stored, so the rebuild does not count it twice
    if (slot + 1 >= this.tree.length) this.rebuildTree(this.tree.length * 2);
    this.slots.push(member);
    member.queueSlot = slot;
    this.add(slot, 1);
    this.live++;
  }

  /** Takes the member that arrived first. */
  shift(): T | undefined {
    while (this.head < this.slots.length) {
      const member = this.slots[this.head];
      this.slots[this.head] = undefined;
      this.head++;
      if (member) {
        this.add(member.queueSlot, -1);
        this.live--;
        member.queueSlot = -1;
        this.afterRemoval();
        return member;
      }
    }
    return undefined;
  }

  /** Removes a member wherever it stands; false when it was not queued. */
  remove(member: T): boolean {
    const slot = member.queueSlot;
    if (slot < 0 || this.slots[slot] !== member) return false;
    this.slots[slot] = undefined;
    this.add(slot, -1);
    this.live--;
    member.queueSlot = -1;
    this.afterRemoval();
    return true;
  }

  /** Number of members ahead of `member` (0 = next to leave), or undefined when it is not queued. */
  positionOf(member: T): number | undefined {
    const slot = member.queueSlot;
    if (slot < 0 || this.slots[slot] !== member) return undefined;
    return this.prefixSum(slot - 1);
  }

  /** Members in queue order (for admin listings; O(n)). */
  *members(): Generator<T> {
    for (let slot = this.head; slot < this.slots.length; slot++) {
      const member = this.slots[slot];
      if (member) yield member;
    }
  }

  /** Empties the queue and returns what was in it, in order. */
  drain(): T[] {
    const members = [...this.members()];
    for (const member of members) member.queueSlot = -1;
    this.slots = [];
    this.head = 0;
    this.tree.fill(0);
    this.live = 0;
    return members;
  }

  private afterRemoval(): void {
    if (this.live === 0) {
      // an empty queue starts numbering again, so slot numbers stay small
      this.slots = [];
      this.head = 0;
      this.tree.fill(0);
    } else if (this.head > COMPACT_AFTER_SLOTS && this.head * 2 > this.slots.length) {
      const remaining = [...this.members()];
      this.slots = remaining;
      this.head = 0;
      remaining.forEach((member, slot) => (member.queueSlot = slot));
      this.rebuildTree(Math.max(1024, this.tree.length));
    }
  }

  private rebuildTree(size: number): void {
    this.tree = new Int32Array(size);
    for (let slot = this.head; slot < this.slots.length; slot++) if (this.slots[slot]) this.add(slot, 1);
  }

  private add(slot: number, delta: number): void {
    for (let i = slot + 1; i < this.tree.length; i += i & -i) this.tree[i]! += delta;
  }

  private prefixSum(slot: number): number {
    let sum = 0;
    for (let i = slot + 1; i > 0; i -= i & -i) sum += this.tree[i]!;
    return sum;
  }
}
