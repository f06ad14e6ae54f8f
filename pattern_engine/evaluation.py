"""Score detections against the synthetic day's labelled patterns: how many planted events each detector
finds, and how often it fires where nothing of its kind was planted.

A label is *found* when a detection of its pattern, on its symbol and on the side the pattern implies, has
its tick inside ``[start_ns, end_ns + tolerance]``. Momentum, breakout and book imbalance follow the planted
move; mean reversion and the pair fade it (a pair label sits on the future, whose rich basis is sold). Every
other detection is a *false positive*; those that fall inside some other kind's episode are counted apart,
since a planted burst is a real move that a breakout or a fade may rightly see. VWAP deviation fades too: its
label's direction is the side of the VWAP the price was pushed to, and the detector sells above, buys below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from pattern_engine.config import PATTERNS
from pattern_engine.engine import Detection

FADED: Final = frozenset({"mean_reversion", "pair_spread", "vwap_deviation"})
DEFAULT_TOLERANCE_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Label:
    start_ns: int
    end_ns: int
    symbol: str
    kind: str
    direction: int


@dataclass(frozen=True, slots=True)
class PatternScore:
    """One pattern's result: ``recall`` is None for a pattern without planted events."""

    pattern: str
    planted: int
    found: int
    signals: int
    false_positives: int
    inside_other_episodes: int
    false_positives_per_hour: float

    @property
    def recall(self) -> float | None:
        return self.found / self.planted if self.planted else None

    def as_dict(self) -> dict[str, object]:
        return {
            "pattern": self.pattern,
            "planted": self.planted,
            "found": self.found,
            "recall": self.recall,
            "signals": self.signals,
            "false_positives": self.false_positives,
            "inside_other_episodes": self.inside_other_episodes,
            "false_positives_per_hour": self.false_positives_per_hour,
        }


def labels_from_table(table: pa.Table) -> list[Label]:
    """The labels of ``labels.parquet`` (see ``aitrader.marketdata.synthetic.LABEL_SCHEMA``)."""
    columns = [table.column(name).to_pylist() for name in ("start_ns", "end_ns", "symbol", "kind", "direction")]
    return [Label(*row) for row in zip(*columns, strict=True)]


def expected_side(label: Label) -> int:
    return -label.direction if label.kind in FADED else label.direction


def score(
    detections: Iterable[Detection],
    labels: Sequence[Label],
    *,
    session_hours: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> dict[str, PatternScore]:
    """Recall and false positives per pattern (every pattern of ``config.PATTERNS`` has an entry)."""
    tolerance_ns = int(tolerance_s * 1e9)
    by_pattern: dict[str, list[Detection]] = {pattern: [] for pattern in PATTERNS}
    for detection in detections:
        by_pattern.setdefault(detection.pattern, []).append(detection)
    results: dict[str, PatternScore] = {}
    for pattern, found_here in by_pattern.items():
        own = [label for label in labels if label.kind == pattern]
        others = [label for label in labels if label.kind != pattern]
        matched_labels: set[int] = set()
        false_positives = inside_other = 0
        for detection in found_here:
            hits = [
                index
                for index, label in enumerate(own)
                if label.symbol == detection.symbol
                and expected_side(label) == detection.side
                and label.start_ns <= detection.tick_ts_ns <= label.end_ns + tolerance_ns
            ]
            if hits:
                matched_labels.update(hits)
                continue
            false_positives += 1
            if any(
                label.symbol == detection.symbol
                and label.start_ns <= detection.tick_ts_ns <= label.end_ns + tolerance_ns
                for label in others
            ):
                inside_other += 1
        results[pattern] = PatternScore(
            pattern=pattern,
            planted=len(own),
            found=len(matched_labels),
            signals=len(found_here),
            false_positives=false_positives,
            inside_other_episodes=inside_other,
            false_positives_per_hour=false_positives / session_hours if session_hours > 0 else 0.0,
        )
    return results
