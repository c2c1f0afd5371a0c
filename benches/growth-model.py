#!/usr/bin/env python3
"""Memory per entry of open-addressing tables grown from empty: a model.

Issue #15 asks `WordMap` for at most 24 bytes per `u64 -> u64` entry grown
from empty (16-byte units). This script computes, for a growth policy, the
bytes per entry of the table alone (no successor prepared ahead, no old table
still migrating: what lfmap adds on top is measured by the `memory` workload
of `cargo bench --bench peers`, "RSS over an octave of sizes") at every size
of one octave, and the copies per key a growth from empty makes. Run:

    python3 benches/growth-model.py          # both parts, about 20 s
    python3 benches/growth-model.py table    # the whole-table part only

Part 1, one table: it grows by a factor `g` (rounded up to 16 slots) when its
entries pass the load limit `L`. Reports the bytes per entry at 2^22 keys,
its mean over the octave [2^22, 2^23) (sizes log-uniform, as in the
benchmark's octave), the least and the most in it, and the copies per key.

Part 2, a directory of segments (extendible hashing, the layout of Go's
maps and of the "segment directory" #15 weighs): segments of `S` slots, each
split into two when its own entries pass `L * S`, keys hashed uniformly.
Segments of one depth receive keys at the same rate, so they split within a
few percent of each other: the directory as a whole doubles in a wave, and
its mean over an octave is a doubling table's.
"""

import math
import random
import sys


def table_schedule(load, g, n_end):
    """(entries_from, entries_to, slots) for each table a growth from empty
    goes through until `n_end` entries."""
    slots, n, out = 16, 0, []
    while n < n_end:
        cap = int(slots * load)
        out.append((n, cap, slots))
        n = cap
        slots = math.ceil(slots * g / 16) * 16
    return out


def table_stats(load, g, lo=1 << 22):
    hi = 2 * lo
    phases = table_schedule(load, g, 2 * hi)
    total = weight = 0.0
    least, most = math.inf, 0.0
    for n0, n1, slots in phases:
        a, b = max(n0, lo), min(n1, hi)
        if b > a:
            # The mean of 16 * slots / n over n log-uniform in [a, b).
            total += 16 * slots * (1 / a - 1 / b)
            weight += math.log(b / a)
            most = max(most, 16 * slots / a)
            least = min(least, 16 * slots / b)
    at_lo = next(16 * s for n0, n1, s in phases if n0 < lo <= n1) / lo
    copies = sum(n1 for n0, n1, s in phases if n1 < hi) / hi
    return at_lo, total / weight, least, most, copies


def directory(segment, load, lo, seed=1):
    """Bytes per entry of an extendible-hashing directory at lo * 2^(k/8),
    k = 0..7."""
    rng = random.Random(seed)
    depth, dir_ = 0, [0]
    local, keys = [0], [[]]
    cap = int(load * segment)
    marks = [int(lo * 2 ** (k / 8)) for k in range(8)]
    out, n = [], 0
    while len(out) < len(marks):
        h = rng.getrandbits(64)
        s = dir_[h >> (64 - depth)] if depth else dir_[0]
        keys[s].append(h)
        n += 1
        if len(keys[s]) > cap:
            d = local[s]
            if d == depth:
                dir_ = [x for x in dir_ for _ in (0, 1)]
                depth += 1
            t = len(local)
            local[s] = d + 1
            local.append(d + 1)
            bit = 63 - d
            old = keys[s]
            keys[s] = [k for k in old if not (k >> bit) & 1]
            keys.append([k for k in old if (k >> bit) & 1])
            shift = depth - (d + 1)
            for i, x in enumerate(dir_):
                if x == s and (i >> shift) & 1:
                    dir_[i] = t
        if n == marks[len(out)]:
            out.append(16 * segment * len(local) / n)
    return out


def main():
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    print("One table of 16-byte units, growing by g at load L; octave [2^22, 2^23):")
    print("   L      g     at 2^22   mean   least   most   copies/key")
    for load in (0.75, 0.875):
        for g in (2, 1.5, 1.25, 1.125):
            at, mean, least, most, copies = table_stats(load, g)
            print(
                f"  {load:<6} {g:<6} {at:7.1f} {mean:7.1f} {least:6.1f} {most:6.1f} {copies:8.2f}"
            )
    if part == "table":
        return
    print()
    print("A directory of segments that split in two at load 3/4; 2^18 keys up:")
    for segment in (256, 1024, 4096):
        seen = directory(segment, 0.75, 1 << 18)
        print(
            f"  S = {segment:<5} " + " ".join(f"{v:5.1f}" for v in seen)
            + f"   mean {sum(seen) / len(seen):.1f}"
        )


if __name__ == "__main__":
    main()
