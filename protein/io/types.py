"""Plain records that the parsers return and the feature builders read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: `id` is the first word of the header, `description` the whole header line after '>'."""

    id: str
    description: str
    sequence: str
    source: str = ""  # the file (or "<string>") it came from, for error messages
    line: int = 0  # 1-based line of its header


@dataclass(frozen=True)
class Msa:
    """An alignment in the query's columns: aligned rows (upper case and '-', insertions removed), the number of
    insertions before each column, and each row's description. Row 0 is the query."""

    sequences: Sequence[str]
    deletion_matrix: Sequence[Sequence[int]]
    descriptions: Sequence[str]

    def __post_init__(self):
        if not len(self.sequences) == len(self.deletion_matrix) == len(self.descriptions):
            raise ValueError(
                f"Msa has {len(self.sequences)} sequences, {len(self.deletion_matrix)} deletion rows and "
                f"{len(self.descriptions)} descriptions; they must be equal"
            )

    def __len__(self) -> int:
        return len(self.sequences)

    def truncate(self, max_seqs: int) -> Msa:
        return Msa(self.sequences[:max_seqs], self.deletion_matrix[:max_seqs], self.descriptions[:max_seqs])


@dataclass(frozen=True)
class TemplateHit:
    """A template search hit (HHR or hmmsearch): `name` as '<pdb_id>_<chain> ...', the aligned query and hit
    strings, and for each aligned column the 0-based query / hit residue index (-1 where that side has a gap)."""

    index: int
    name: str
    aligned_cols: int
    sum_probs: float | None
    query: str
    hit_sequence: str
    indices_query: Sequence[int]
    indices_hit: Sequence[int]
