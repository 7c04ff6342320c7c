"""Sliding windows the rules keep in memory: counts, good/total pairs and value histograms.

A window of length W is kept as buckets of W/60 (at least one second), so it slides in
steps of a sixtieth of its length and costs O(1) per event whatever the rate: an event
at time t is in the window at `now` while `bucket(now) - bucket(t) < 60`, that is for W
(give or take one step). Running totals are kept beside the buckets; expiring a bucket
subtracts it. Histograms use the DDSketch bins of the quantile rollups (1 % relative
accuracy), so a rule's percentile agrees with the dashboard's.
"""

from __future__ import annotations

from collections import deque

from syncmon.metrics.sketches import MAPPING, bin_of

BUCKETS = 60
MIN_STEP_MS = 1000
_POSITIVE = 0


def step_ms(window_ms: int) -> int:
    return max(MIN_STEP_MS, window_ms // BUCKETS)


class WindowCounter:
    """How many events in the last `window_ms`."""

    __slots__ = ("_buckets", "_span", "_step", "total")

    def __init__(self, window_ms: int) -> None:
        self._step = step_ms(window_ms)
        self._span = max(1, window_ms // self._step)
        self._buckets: deque[list[int]] = deque()  # [bucket index, count]
        self.total = 0

    def add(self, at_ms: int, n: int = 1) -> None:
        index = at_ms // self._step
        buckets = self._buckets
        if buckets and buckets[-1][0] == index:
            buckets[-1][1] += n
        elif not buckets or buckets[-1][0] < index:
            buckets.append([index, n])
        else:
            if not _add_older(buckets, index, n):
                return
        self.total += n

    def value(self, now_ms: int) -> int:
        self.expire(now_ms)
        return self.total

    def expire(self, now_ms: int) -> None:
        oldest = now_ms // self._step - self._span + 1
        buckets = self._buckets
        while buckets and buckets[0][0] < oldest:
            self.total -= buckets.popleft()[1]

    def empty(self) -> bool:
        return not self._buckets


class PairWindow:
    """Two counts over one window: (bad, total) for ratios, availability and SLIs."""

    __slots__ = ("_buckets", "_span", "_step", "bad", "total")

    def __init__(self, window_ms: int) -> None:
        self._step = step_ms(window_ms)
        self._span = max(1, window_ms // self._step)
        self._buckets: deque[list[int]] = deque()  # [bucket index, bad, total]
        self.bad = 0
        self.total = 0

    def add(self, at_ms: int, bad: int, total: int) -> None:
        index = at_ms // self._step
        buckets = self._buckets
        if buckets and buckets[-1][0] == index:
            entry = buckets[-1]
        elif not buckets or buckets[-1][0] < index:
            entry = [index, 0, 0]
            buckets.append(entry)
        else:
            found = _find_older(buckets, index, [index, 0, 0])
            if found is None:
                return
            entry = found
        entry[1] += bad
        entry[2] += total
        self.bad += bad
        self.total += total

    def counts(self, now_ms: int) -> tuple[int, int]:
        self.expire(now_ms)
        return self.bad, self.total

    def expire(self, now_ms: int) -> None:
        oldest = now_ms // self._step - self._span + 1
        buckets = self._buckets
        while buckets and buckets[0][0] < oldest:
            _, bad, total = buckets.popleft()
            self.bad -= bad
            self.total -= total

    def empty(self) -> bool:
        return not self._buckets


class WindowedBins:
    """Values over a window as DDSketch bin counts, for percentiles (values >= 0)."""

    __slots__ = ("_buckets", "_sorted", "_span", "_step", "bins", "count", "zeros")

    def __init__(self, window_ms: int) -> None:
        self._step = step_ms(window_ms)
        self._span = max(1, window_ms // self._step)
        self._buckets: deque[tuple[int, dict[int, int]]] = deque()
        self.bins: dict[int, int] = {}
        self._sorted: list[int] | None = None  # the keys in order, until a key comes or goes
        self.zeros = 0
        self.count = 0

    def add(self, at_ms: int, value: float) -> None:
        store, key = bin_of(value)
        if store != _POSITIVE:
            key = _ZERO_KEY  # zero (or, never for durations, negative)
        self.add_bin(at_ms, key, 1)

    def add_bin(self, at_ms: int, key: int, n: int) -> None:
        index = at_ms // self._step
        buckets = self._buckets
        if buckets and buckets[-1][0] == index:
            bins = buckets[-1][1]
        elif not buckets or buckets[-1][0] < index:
            bins = {}
            buckets.append((index, bins))
        else:
            found = _find_older_bins(buckets, index)
            if found is None:
                return
            bins = found
        bins[key] = bins.get(key, 0) + n
        if key == _ZERO_KEY:
            self.zeros += n
        else:
            held = self.bins.get(key)
            if held is None:
                self.bins[key] = n
                self._sorted = None
            else:
                self.bins[key] = held + n
        self.count += n

    def expire(self, now_ms: int) -> None:
        oldest = now_ms // self._step - self._span + 1
        buckets = self._buckets
        while buckets and buckets[0][0] < oldest:
            _, bins = buckets.popleft()
            for key, n in bins.items():
                self.count -= n
                if key == _ZERO_KEY:
                    self.zeros -= n
                    continue
                left = self.bins[key] - n
                if left:
                    self.bins[key] = left
                else:
                    del self.bins[key]
                    self._sorted = None

    def quantile(self, now_ms: int, q: float) -> float | None:
        """The value at quantile q (0..1), as DDSketch answers it; None when empty."""
        self.expire(now_ms)
        if self.count == 0:
            return None
        rank = q * (self.count - 1)
        if rank < self.zeros:
            return 0.0
        running = float(self.zeros)
        if self._sorted is None:
            self._sorted = sorted(self.bins)
        for key in self._sorted:
            running += self.bins[key]
            if running > rank:
                return float(MAPPING.value(key))
        return float(MAPPING.value(max(self.bins)))

    def empty(self) -> bool:
        return not self._buckets


_ZERO_KEY = -(2**62)  # no DDSketch key is this small


def _add_older(buckets: deque[list[int]], index: int, n: int) -> bool:
    found = _find_older(buckets, index, [index, 0])
    if found is None:
        return False
    found[1] += n
    return True


def _find_older(buckets: deque[list[int]], index: int, fresh: list[int]) -> list[int] | None:
    """The bucket `index` for a late event, inserted in order when missing (one older than
    the window leaves again at the next expiry)."""
    if not buckets or index < buckets[0][0]:
        buckets.appendleft(fresh)
        return fresh
    for position in range(len(buckets) - 1, -1, -1):
        current = buckets[position][0]
        if current == index:
            return buckets[position]
        if current < index:
            buckets.insert(position + 1, fresh)
            return fresh
    return None


def _find_older_bins(buckets: deque[tuple[int, dict[int, int]]], index: int) -> dict[int, int] | None:
    if not buckets or index < buckets[0][0]:
        first: dict[int, int] = {}
        buckets.appendleft((index, first))
        return first
    for position in range(len(buckets) - 1, -1, -1):
        current = buckets[position][0]
        if current == index:
            return buckets[position][1]
        if current < index:
            fresh: dict[int, int] = {}
            buckets.insert(position + 1, (index, fresh))
            return fresh
    return None
