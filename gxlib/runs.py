"""Splitting flattened digit runs under the template's own arithmetic.

Some captures flatten a table row into one run of digits, e.g.
``一、本年新收政府信息公开申请数量640020470`` for the seven cells 6 4 0 0 2 0 ... .
Whitespace that does survive is a certain cell boundary; inside a chunk every cut is
possible.  A number never starts with 0 unless it is 0 itself.

The functions here enumerate every split that is consistent with the given identities.
They never choose between several consistent splits: the caller keeps the cells on
which all of them agree and leaves the others NA (see :mod:`gxlib.tables`).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

# enumeration is cut off beyond this many candidates (the caller then gives up: NA)
LIMIT = 20000


class TooMany(Exception):
    """More candidate splits than :data:`LIMIT`."""


def _pieces(chunk: str, start: int, maxlen: int | None = None) -> Iterator[tuple[int, str]]:
    """Possible next numbers starting at ``chunk[start]``: (end, text)."""
    if start >= len(chunk):
        return
    if chunk[start] == "0":
        yield start + 1, "0"
        return
    end_max = len(chunk) if maxlen is None else min(len(chunk), start + maxlen)
    for end in range(start + 1, end_max + 1):
        yield end, chunk[start:end]


def splits(chunks: Sequence[str], k: int) -> list[tuple[int, ...]]:
    """All ways to cut the digit chunks into exactly ``k`` numbers (chunk borders are cuts)."""
    out: list[tuple[int, ...]] = []
    total_digits = sum(len(c) for c in chunks)
    if not chunks or k < len(chunks) or k > total_digits:
        return out

    def rec(ci: int, pos: int, acc: list[int]) -> None:
        if len(out) > LIMIT:
            raise TooMany
        if ci == len(chunks):
            if len(acc) == k:
                out.append(tuple(acc))
            return
        chunk = chunks[ci]
        if pos == len(chunk):
            rec(ci + 1, 0, acc)
            return
        remaining_chunks = len(chunks) - ci - 1
        for end, text in _pieces(chunk, pos):
            parts_left = k - len(acc) - 1
            # each later chunk needs at least one part; digits left bound the parts
            digits_left = len(chunk) - end + sum(len(c) for c in chunks[ci + 1:])
            if parts_left < remaining_chunks + (1 if end < len(chunk) else 0) or parts_left > digits_left:
                continue
            acc.append(int(text))
            rec(ci, end, acc)
            acc.pop()

    rec(0, 0, [])
    return out


def row_splits(chunks: Sequence[str], k: int) -> list[tuple[int, ...]]:
    """Splits into ``k`` numbers whose first ``k-1`` sum to the last (a row and its 总计)."""
    return [s for s in _sum_splits(chunks, k)]


def _sum_splits(chunks: Sequence[str], k: int) -> Iterator[tuple[int, ...]]:
    # choose the total (a suffix of the last chunk) first, then split the rest with pruning
    if not chunks:
        return
    last = chunks[-1]
    found = 0
    for t in range(1, len(last) + 1):
        tail = last[len(last) - t:]
        if len(tail) > 1 and tail[0] == "0":
            continue
        total = int(tail)
        head = list(chunks[:-1])
        rest = last[: len(last) - t]
        if rest:
            head.append(rest)
        for combo in _bounded(head, k - 1, total):
            found += 1
            if found > LIMIT:
                raise TooMany
            yield (*combo, total)


def _bounded(chunks: Sequence[str], k: int, target: int) -> Iterator[tuple[int, ...]]:
    """Splits of ``chunks`` into ``k`` numbers summing to ``target``."""
    if k == 0:
        if not chunks:
            yield ()
        return
    if not chunks:
        return
    maxlen = len(str(target))

    def rec(ci: int, pos: int, acc: list[int], s: int) -> Iterator[tuple[int, ...]]:
        if ci == len(chunks):
            if len(acc) == k and s == target:
                yield tuple(acc)
            return
        chunk = chunks[ci]
        if pos == len(chunk):
            yield from rec(ci + 1, 0, acc, s)
            return
        for end, text in _pieces(chunk, pos, maxlen):
            v = int(text)
            if s + v > target:
                break
            parts_left = k - len(acc) - 1
            remaining_chunks = len(chunks) - ci - 1 + (1 if end < len(chunk) else 0)
            digits_left = len(chunk) - end + sum(len(c) for c in chunks[ci + 1:])
            if parts_left < remaining_chunks or parts_left > digits_left:
                continue
            acc.append(v)
            yield from rec(ci, end, acc, s + v)
            acc.pop()

    yield from rec(0, 0, [], 0)


def block_splits(chunks: Sequence[str], blocks: int, size: int) -> list[tuple[int, ...]]:
    """Splits into ``blocks`` consecutive blocks of ``size`` numbers, each block's last
    number being the sum of the others (section 四: 维持+纠正+其他+尚未审结 = 总计)."""
    out: list[tuple[int, ...]] = []
    # flatten chunks into one string with mandatory cut positions
    text = "".join(chunks)
    cuts = set()
    pos = 0
    for c in chunks[:-1]:
        pos += len(c)
        cuts.add(pos)

    def free(a: int, b: int) -> bool:  # no mandatory cut strictly inside (a, b)
        return not any(a < c < b for c in cuts)

    def numbers(start: int, n: int) -> Iterator[tuple[int, list[int]]]:
        """n numbers from text[start:], each ending at a valid position."""
        if n == 0:
            yield start, []
            return
        if start >= len(text):
            return
        ends = [start + 1] if text[start] == "0" else range(start + 1, len(text) + 1)
        for end in ends:
            if not free(start, end):
                break
            for e2, rest in numbers(end, n - 1):
                yield e2, [int(text[start:end]), *rest]

    def rec(start: int, b: int, acc: list[int]) -> None:
        if len(out) > LIMIT:
            raise TooMany
        if b == blocks:
            if start == len(text):
                out.append(tuple(acc))
            return
        for end, parts in numbers(start, size - 1):
            total = str(sum(parts))
            stop = end + len(total)
            if text[end:stop] == total and free(end, stop):
                rec(stop, b + 1, [*acc, *parts, int(total)])

    rec(0, 0, [])
    # a cut inside the text that is not used by any number would be illegal: filter
    return [s for s in out if _respects_cuts(s, text, cuts)]


def _respects_cuts(values: tuple[int, ...], text: str, cuts: set[int]) -> bool:
    pos = 0
    bounds = set()
    for v in values:
        pos += len(str(v))
        bounds.add(pos)
    return cuts <= bounds and pos == len(text)
