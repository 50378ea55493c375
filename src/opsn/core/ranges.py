"""Intervalles de strates (R1, R2, R7, R8).

R1 : « moins de N » = [0, N) ; « de A à B » = [A, B] ; « N et plus » = [N, ∞).
Un intervalle garde ses bornes telles qu'imprimées ; l'inclusion de bornes
sert à départager les lignes qui se chevauchent (R2) et à trouver les trous (R8).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

ZERO = Decimal(0)


@dataclass(frozen=True, order=True)
class Range:
    low: Decimal = ZERO
    low_inclusive: bool = True
    high: Decimal | None = None  # None = +∞
    high_inclusive: bool = False

    def contains(self, value: Decimal) -> bool:
        if value < self.low or (value == self.low and not self.low_inclusive):
            return False
        if self.high is None:
            return True
        return value < self.high or (value == self.high and self.high_inclusive)

    def inside(self, other: Range) -> bool:
        """Vrai si self ⊆ other."""
        if self.low < other.low or (
            self.low == other.low and self.low_inclusive and not other.low_inclusive
        ):
            return False
        if other.high is None:
            return True
        if self.high is None:
            return False
        return self.high < other.high or (
            self.high == other.high and (other.high_inclusive or not self.high_inclusive)
        )

    def overlaps(self, other: Range) -> bool:
        lo, lo_inc = max((self.low, not self.low_inclusive), (other.low, not other.low_inclusive))
        lo_inc = not lo_inc
        if self.high is None:
            hi, hi_inc = other.high, other.high_inclusive
        elif other.high is None:
            hi, hi_inc = self.high, self.high_inclusive
        else:
            hi, hi_inc = min((self.high, self.high_inclusive), (other.high, other.high_inclusive))
        if hi is None:
            return True
        return lo < hi or (lo == hi and lo_inc and hi_inc)

    def label(self, unit: str = "") -> str:
        u = f" {unit}" if unit else ""
        if self.high is None:
            if self.low == 0 and self.low_inclusive:
                return f"toute valeur{u}"
            return f"{'≥' if self.low_inclusive else '>'} {self.low}{u}"
        left = "[" if self.low_inclusive else "]"
        right = "]" if self.high_inclusive else "["
        return f"{left}{self.low} ; {self.high}{right}{u}"


def gaps(ranges: list[Range], integer: bool) -> list[str]:
    """Trous laissés par l'union des intervalles sur [0, ∞) (R8).

    Pour une grandeur entière (population, agents), ]300 ; 301[ n'est pas un trou.
    """
    if not ranges:
        return ["aucune ligne"]
    ordered = sorted(ranges, key=lambda r: (r.low, not r.low_inclusive))
    holes: list[str] = []
    # frontière couverte jusqu'ici : (valeur, incluse ?)
    reach: Decimal = ZERO
    reach_inclusive = False  # rien de couvert encore : 0 doit l'être
    first = True
    for r in ordered:
        start_ok = _joins(reach, reach_inclusive, r.low, r.low_inclusive, integer, first)
        if not start_ok:
            holes.append(_hole_label(reach, reach_inclusive, r.low, r.low_inclusive, first))
        first = False
        if r.high is None:
            return holes
        if r.high > reach or (r.high == reach and r.high_inclusive and not reach_inclusive):
            reach, reach_inclusive = r.high, r.high_inclusive
    holes.append(f"{'>' if reach_inclusive else '≥'} {reach}")
    return holes


def _joins(
    reach: Decimal, reach_inc: bool, low: Decimal, low_inc: bool, integer: bool, first: bool
) -> bool:
    if first:
        return low < 0 or (low == 0 and low_inc) or (integer and low <= 1 and low == 0)
    if low < reach:
        return True
    if low == reach:
        return reach_inc or low_inc
    # low > reach
    if integer and reach == reach.to_integral_value() and low == low.to_integral_value():
        # entiers : [.., 300] puis [301, ..] se touchent ; [.., 300[ puis [301 non
        return low - reach == 1 and reach_inc and low_inc
    return False


def _hole_label(reach: Decimal, reach_inc: bool, low: Decimal, low_inc: bool, first: bool) -> str:
    if first:
        return f"de 0 à {low}{' exclu' if low_inc else ''}"
    a = f"{reach}{' exclu' if reach_inc else ''}"
    b = f"{low}{' exclu' if low_inc else ''}"
    if reach == low:
        return f"exactement {low}"
    return f"de {a} à {b}"


# -- pavés à plusieurs grandeurs (population × agents…) ----------------------

Box = tuple[tuple[str, Range], ...]  # grandeur → intervalle ; grandeur absente = tout


def box_contains(box: Box, point: dict[str, Decimal]) -> bool:
    return all(rng.contains(point[dim]) for dim, rng in box)


def box_inside(a: Box, b: Box) -> bool:
    """Vrai si le pavé a ⊆ b (une grandeur absente de b ne contraint rien)."""
    ranges_a = dict(a)
    for dim, rng_b in b:
        rng_a = ranges_a.get(dim)
        if rng_a is None or not rng_a.inside(rng_b):
            return False
    return True


def sample_points(boxes: list[Box], integer_dims: set[str]) -> list[dict[str, Decimal]]:
    """Points représentatifs : l'appartenance à chaque pavé est constante entre deux bornes
    consécutives, il suffit donc de tester les bornes et un point de chaque intervalle."""
    dims = sorted({dim for box in boxes for dim, _ in box})
    per_dim: dict[str, list[Decimal]] = {}
    for dim in dims:
        bounds = {ZERO}
        for box in boxes:
            for d, rng in box:
                if d == dim:
                    bounds.add(rng.low)
                    if rng.high is not None:
                        bounds.add(rng.high)
        ordered = sorted(bounds)
        points = set(ordered)
        for lo, hi in pairwise(ordered):
            if dim in integer_dims:
                if hi - lo >= 2:
                    points.add(lo + 1)
            else:
                points.add((lo + hi) / 2)
        points.add(ordered[-1] + 1)
        if dim in integer_dims:
            points = {p for p in points if p == p.to_integral_value()}
        per_dim[dim] = sorted(points)
    result: list[dict[str, Decimal]] = [{}]
    for dim in dims:
        result = [{**p, dim: v} for p in result for v in per_dim[dim]]
    return result
