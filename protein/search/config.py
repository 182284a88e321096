"""Search settings as data: one frozen config per tool and AlphaFold2's presets as small diffs of the defaults.

AlphaFold2 (data/tools/jackhmmer.py, hmmsearch.py, hhblits.py and data/pipeline.py) runs

    jackhmmer -N 1 --noali --F1 0.0005 --F2 0.00005 --F3 0.0000005 --incE 0.0001 -E 0.0001 --cpu 8
    hmmbuild --hand --amino;  hmmsearch --noali --cpu 8 --F1 0.1 --F2 0.1 --F3 0.1 --incE 100 -E 100 --domE 100
                                        --incdomE 100
    hhblits -n 3 -e 0.001 -maxseq 1000000 -realign_max 100000 -maxfilt 100000 -min_prefilter_hits 1000 -cpu 4

and keeps the first 10,000 jackhmmer rows of UniRef90 and 501 of MGnify (`protein.io.MAX_HITS`).

Every HMMER threshold is written out here, also those AlphaFold2 leaves at the program's default, because the
defaults differ between programs: jackhmmer's `--incdomE` is 0.001, hmmsearch's (and pyhmmer's `Pipeline`'s)
0.01. The domain inclusion threshold decides which domains of an included hit enter the alignment, so it changes
the Stockholm file and, with more than one iteration, the profile of the next one.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

from protein.io import MAX_HITS


@dataclasses.dataclass(frozen=True)
class HmmerThresholds:
    """The reporting/inclusion thresholds and acceleration filters of one HMMER search (HMMER User's Guide,
    "Reporting thresholds", "Inclusion thresholds", "Acceleration heuristics"); E-values are per sequence (`E`,
    `incE`) and per domain (`domE`, `incdomE`)."""

    E: float = 10.0
    domE: float = 10.0
    incE: float = 0.01
    incdomE: float = 0.01
    F1: float = 0.02
    F2: float = 1e-3
    F3: float = 1e-5

    def pipeline_options(self) -> dict[str, float]:
        """Keyword arguments of `pyhmmer.plan7.Pipeline`."""
        return dataclasses.asdict(self)

    def command_line(self) -> list[str]:
        """The same settings as options of the HMMER programs."""
        return ["-E", f"{self.E:g}", "--domE", f"{self.domE:g}", "--incE", f"{self.incE:g}",
                "--incdomE", f"{self.incdomE:g}", "--F1", f"{self.F1:g}", "--F2", f"{self.F2:g}",
                "--F3", f"{self.F3:g}"]


@dataclasses.dataclass(frozen=True)
class JackhmmerConfig:
    """An iterative search of one query sequence (jackhmmer).

    iterations: the most search rounds (`-N`); each later round searches with a profile built from the hits
      included by the one before, and the search stops early when no new hit is included.
    max_hits: rows kept in the Stockholm file, the query included (None: all); AlphaFold2 cuts the file so.
    num_targets: the number of target sequences E-values are computed for (`-Z`; None: the database's).
    cpus: threads (the binary's `--cpu`; pyhmmer: shards searched at once).
    """

    thresholds: HmmerThresholds = HmmerThresholds(E=1e-4, incE=1e-4, incdomE=1e-3, F1=5e-4, F2=5e-5, F3=5e-7)
    iterations: int = 1
    max_hits: int | None = None
    num_targets: int | None = None
    cpus: int = 8
    timeout_s: float = 24 * 3600.0

    def __post_init__(self):
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")
        if self.max_hits is not None and self.max_hits < 1:
            raise ValueError(f"max_hits must be at least 1 (the query row), got {self.max_hits}")


@dataclasses.dataclass(frozen=True)
class HmmsearchConfig:
    """A profile search for templates (hmmbuild + hmmsearch): the profile is built from an MSA of the query
    (AlphaFold2: the UniRef90 jackhmmer alignment, cut to `max_query_sequences` rows, deduplicated and without
    empty columns), with the alignment's reference annotation as match columns (`hmmbuild --hand`)."""

    thresholds: HmmerThresholds = HmmerThresholds(E=100.0, domE=100.0, incE=100.0, incdomE=100.0,
                                                  F1=0.1, F2=0.1, F3=0.1)
    max_query_sequences: int | None = MAX_HITS["uniref90"]
    num_targets: int | None = None
    cpus: int = 8
    timeout_s: float = 3600.0


@dataclasses.dataclass(frozen=True)
class HhblitsConfig:
    """HHblits (HH-suite 3) as AlphaFold2 runs it on BFD and UniRef30/Uniclust30."""

    iterations: int = 3
    e_value: float = 1e-3
    maxseq: int = 1_000_000
    realign_max: int = 100_000
    maxfilt: int = 100_000
    min_prefilter_hits: int = 1000
    cpus: int = 4
    timeout_s: float = 24 * 3600.0


@dataclasses.dataclass(frozen=True)
class MmseqsConfig:
    """An MMseqs2 profile search (`mmseqs search`) written as A3M (`mmseqs result2msa --msa-format-mode 6`)."""

    iterations: int = 3
    sensitivity: float = 8.0
    e_value: float = 0.1
    max_seqs: int = 10_000
    cpus: int = 8
    timeout_s: float = 24 * 3600.0


_ALPHAFOLD2_JACKHMMER = JackhmmerConfig()

JACKHMMER_PRESETS: Mapping[str, JackhmmerConfig] = types.MappingProxyType({
    database: dataclasses.replace(_ALPHAFOLD2_JACKHMMER, max_hits=max_hits)
    for database, max_hits in MAX_HITS.items()
})
"""AlphaFold2's jackhmmer search of each database: the same settings, each database's own row cap."""
