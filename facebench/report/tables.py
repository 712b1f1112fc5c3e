"""A renderer-neutral table: the leaderboard builds these once and Markdown, LaTeX and HTML
render the same cells, bolding and numbered notes."""
from __future__ import annotations

from dataclasses import dataclass, field

_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def superscript(n: int) -> str:
    return str(n).translate(_SUP)


@dataclass
class Cell:
    text: str
    bold: bool = False
    italic: bool = False
    notes: list[int] = field(default_factory=list)
    mark: str = ""  # e.g. "≈" (not separable from the best)
    value: float | None = None
    ci: tuple[float, float] | None = None


@dataclass
class Table:
    id: str  # slug, unique in a document (HTML anchors, LaTeX labels)
    title: str
    kind: str
    dataset: str
    headers: list[str]
    align: list[str]  # "l" or "r" per column
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # numbered: notes[i] is note i+1
    legend: list[str] = field(default_factory=list)  # unnumbered lines under the table
    breakdown: bool = False  # a per-attribute breakdown (the HTML report folds these)

    def note(self, text: str) -> int:
        """Number of ``text`` among this table's notes (added once)."""
        if text not in self.notes:
            self.notes.append(text)
        return self.notes.index(text) + 1

    @property
    def ncols(self) -> int:
        return len(self.headers)


@dataclass
class Section:
    kind: str
    title: str
    dataset: str
    intro: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Leaderboard:
    title: str
    preamble: list[str]
    sections: list[Section]
    sources: list[str]  # one line per input run / reported file

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]
