"""The demo sequence database: families of homologs evolved from real seed sequences, plus random background.

    python -m protein.search.demo data/      # writes data/demo_db/demo_{uniref,mgnify}.fasta, data/demo_queries.fasta

The files in the repository's `data/` are this module's output, and the tests check that it reproduces them byte
for byte. Each of six small real proteins (`SEEDS`) is the root of a two-level tree: `num_subfamilies` subfamily
ancestors, evolved from the seed at rates spread evenly over `subfamily_rates` (from close to remote homologs),
each with `members_per_subfamily` leaves evolved from it at a rate drawn from `member_rates`. A branch of rate r
replaces a fraction r of the sites (half by a residue of the same physico-chemical group, half by one drawn from
the background composition, which may be the same residue) and opens insertions and deletions at
`indel_fraction` * r per site. Unrelated random sequences of the background composition make up the rest, so
that E-values mean something. The leaves and the background are shuffled and split between a UniRef90-like file
(UniProt-style ids, `tr|DEMO00001|DEMO00001_DS042` with a mnemonic species code that AlphaFold2's
msa_identifiers parses) and a MGnify-like one (`MGYP000000000001`); each header's description holds the truth,
`FAM=<family> SUB=<subfamily>` or `FAM=none`.

Reproducible everywhere: only NumPy's legacy `RandomState` (whose stream NumPy keeps frozen) and only its uniform
doubles are drawn; every choice is made from them with integer tables and comparisons, never with `exp` or `log`,
whose last bit may differ between platforms.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from protein.structure.files import write_atomic

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Seed:
    """A real protein at the root of a family: its family name, sequence and where the sequence is from."""

    family: str
    sequence: str
    source: str


SEEDS: tuple[Seed, ...] = (
    Seed(
        "ubiquitin",
        "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
        "human ubiquitin, UniProt P0CG48 residues 1-76 (= PDB 1UBI)",
    ),
    Seed(
        "hemoglobin_beta",
        "MVHLTPEEKSAVTALWGKVNVDEVGGEALGRLLVVYPWTQRFFESFGDLSTPDAVMGNPKVKAHGKKVLGAFSDGLAHLDNLKGTFATLSELHCDKLHVDPENF"
        "RLLGNVLVCVLAHHFGKEFTPPVQAAYQKVVAGVANALAHKYH",
        "human hemoglobin subunit beta, UniProt P68871 residues 1-147",
    ),
    Seed(
        "lysozyme",
        "KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNG"
        "MNAWVAWRNRCKGTDVQAWIRGCRL",
        "hen egg-white lysozyme C, UniProt P00698 mature chain, residues 19-147 (= PDB 1AKI)",
    ),
    Seed(
        "bpti",
        "RPDFCLEPPYTGPCKARIIRYFYNAKAGLCQTFVYGGCRAKRNNFKSAEDCMRTCGGA",
        "bovine pancreatic trypsin inhibitor, UniProt P00974 mature chain, residues 36-93 (= PDB 1BPI)",
    ),
    Seed(
        "crambin",
        "TTCCPSIVARSNFNVCRLPGTPEALCATYTGCIIIPGATCPGDYAN",
        "crambin, UniProt P01542, as in PDB 1EJG (Pro22, Leu25: crambin is a mix of Pro22/Leu25 and Ser22/Ile25)",
    ),
    Seed(
        "villin_headpiece",
        "MLSDEDFKAVFGMTRSAFANLPLWKQQNLKKEKGLF",
        "chicken villin headpiece subdomain HP36 (UniProt P02640), as in PDB 1VII",
    ),
)

AMINO_ACIDS = "ARNDCQEGHILKMFPSTWYV"
BACKGROUND_PER_MILLE = (83, 55, 41, 55, 14, 39, 67, 71, 23, 59, 97, 58, 24, 39, 47, 66, 53, 11, 29, 69)
"""Residue composition of the background and of inserted residues (per mille, in AMINO_ACIDS order; about
UniProtKB/Swiss-Prot's). Integers, so that sampling from it is exact."""

CONSERVATIVE_GROUPS = ("ILMV", "FWY", "KRH", "DE", "NQ", "ST", "AG")
"""Residues that replace each other in a conservative substitution; C and P have none and draw from background."""

INDEL_LENGTH_WEIGHTS = (50, 25, 12, 8, 5)
"""Relative frequency of insertions and deletions of 1, 2, ... 5 residues."""


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """How the demo database is generated; the defaults make the committed files in data/."""

    random_seed: int = 20240501
    num_subfamilies: int = 12
    members_per_subfamily: int = 20
    subfamily_rates: tuple[float, float] = (0.05, 0.75)  # evenly spread, close to remote
    member_rates: tuple[float, float] = (0.02, 0.15)  # uniform
    conservative_fraction: float = 0.5
    indel_fraction: float = 0.05  # indel events per substitution
    num_background: int = 560
    background_lengths: tuple[int, int] = (40, 200)  # uniform, inclusive
    uniref_fraction: float = 0.75  # the rest go to the MGnify-like file
    num_species: int = 60
    query_background_length: int = 120  # the query with no homologs
    line_width: int = 60


UNIREF_FILE = "demo_db/demo_uniref.fasta"
MGNIFY_FILE = "demo_db/demo_mgnify.fasta"
QUERIES_FILE = "demo_queries.fasta"
NO_HOMOLOGS_ID = "random_no_homologs"


@dataclasses.dataclass(frozen=True)
class DemoRecord:
    family: str  # "none" for background
    subfamily: int  # -1 for background
    species: int
    sequence: str


class _Sampler:
    """Every random choice of the generator, from uniform doubles of a RandomState only."""

    def __init__(self, seed: int) -> None:
        self._random = np.random.RandomState(seed)
        self._background = np.cumsum(BACKGROUND_PER_MILLE)
        self._indel_lengths = np.cumsum(INDEL_LENGTH_WEIGHTS)
        self._group_of = {residue: group for group in CONSERVATIVE_GROUPS for residue in group}

    def uniform(self, size: int | None = None) -> np.ndarray | float:
        return self._random.random_sample(size)

    def integer(self, low: int, high: int) -> int:
        """One integer in [low, high]."""
        return low + int(self.uniform() * (high - low + 1))

    def background(self, size: int) -> str:
        """`size` residues drawn from the background composition."""
        draws = self.uniform(size) * int(self._background[-1])
        return "".join(AMINO_ACIDS[i] for i in np.searchsorted(self._background, draws, side="right"))

    def shuffled(self, items: Sequence) -> list:
        """Fisher-Yates on our own draws (not RandomState.shuffle), so the order rests only on uniform doubles."""
        items = list(items)
        for i in range(len(items) - 1, 0, -1):
            j = int(self.uniform() * (i + 1))
            items[i], items[j] = items[j], items[i]
        return items

    def evolve(self, sequence: str, rate: float, config: DemoConfig) -> str:
        """One branch: substitutions at a fraction `rate` of the sites, then indels (see the module docstring)."""
        residues = list(sequence)
        mutated = np.flatnonzero(self.uniform(len(residues)) < rate)
        kinds = self.uniform(len(mutated))
        picks = self.uniform(len(mutated))
        replacements = self.background(len(mutated))
        for site, kind, pick, replacement in zip(mutated, kinds, picks, replacements):
            others = self._group_of.get(residues[site], "").replace(residues[site], "")
            if kind < config.conservative_fraction and others:
                residues[site] = others[int(pick * len(others))]
            else:
                residues[site] = replacement
        indel_rate = rate * config.indel_fraction / 2  # per site, for insertions and for deletions
        events = self.uniform(len(residues))
        for site in range(len(residues) - 1, -1, -1):  # right to left: sites to the left keep their index
            if events[site] < 2 * indel_rate:
                length = 1 + int(np.searchsorted(
                    self._indel_lengths, self.uniform() * int(self._indel_lengths[-1]), side="right"))
                if events[site] < indel_rate:
                    residues[site + 1:site + 1] = list(self.background(length))
                else:
                    del residues[site:site + length]
        return "".join(residues)


def generate(config: DemoConfig = DemoConfig()) -> tuple[list[DemoRecord], list[DemoRecord]]:
    """The records of the UniRef90-like and the MGnify-like file, each in file order."""
    sampler = _Sampler(config.random_seed)
    records = []
    low, high = config.subfamily_rates
    for seed in SEEDS:
        for subfamily in range(config.num_subfamilies):
            rate = low + (high - low) * subfamily / max(config.num_subfamilies - 1, 1)
            ancestor = sampler.evolve(seed.sequence, rate, config)
            for _ in range(config.members_per_subfamily):
                low_member, high_member = config.member_rates
                member_rate = low_member + (high_member - low_member) * sampler.uniform()
                member = sampler.evolve(ancestor, member_rate, config)
                records.append(DemoRecord(seed.family, subfamily, sampler.integer(1, config.num_species), member))
    for _ in range(config.num_background):
        length = sampler.integer(*config.background_lengths)
        records.append(DemoRecord("none", -1, sampler.integer(1, config.num_species), sampler.background(length)))
    records = sampler.shuffled(records)
    uniref, mgnify = [], []
    for record in records:
        (uniref if sampler.uniform() < config.uniref_fraction else mgnify).append(record)
    return uniref, mgnify


def queries(config: DemoConfig = DemoConfig()) -> list[tuple[str, str]]:
    """(header, sequence) of each seed and of one random sequence with no homologs in the demo database."""
    sampler = _Sampler(config.random_seed + 1)  # another stream: not one of the background sequences
    records = [(f"{seed.family} {seed.source}", seed.sequence) for seed in SEEDS]
    records.append((f"{NO_HOMOLOGS_ID} random sequence of the background composition; no homologs in the demo "
                    "database", sampler.background(config.query_background_length)))
    return records


def uniref_header(number: int, record: DemoRecord) -> str:
    accession = f"DEMO{number:05d}"
    return f"tr|{accession}|{accession}_DS{record.species:03d} {_description(record)}"


def mgnify_header(number: int, record: DemoRecord) -> str:
    return f"MGYP{number:012d} {_description(record)}"


def _description(record: DemoRecord) -> str:
    if record.family == "none":
        return f"Demo background sequence FAM=none OS=Demo species {record.species}"
    return (f"Demo {record.family} homolog FAM={record.family} SUB={record.subfamily} "
            f"OS=Demo species {record.species}")


def fasta_text(records: Sequence[tuple[str, str]], line_width: int) -> str:
    return "".join(f">{header}\n{_wrap(sequence, line_width)}" for header, sequence in records)


def _wrap(sequence: str, width: int) -> str:
    return "".join(f"{sequence[i:i + width]}\n" for i in range(0, len(sequence), width))


def write_demo(folder: str | os.PathLike, config: DemoConfig = DemoConfig()) -> list[Path]:
    """Writes the demo database and queries under `folder` (see the module docstring); returns their paths."""
    folder = Path(folder)
    uniref, mgnify = generate(config)
    contents = {
        UNIREF_FILE: [(uniref_header(i, r), r.sequence) for i, r in enumerate(uniref, start=1)],
        MGNIFY_FILE: [(mgnify_header(i, r), r.sequence) for i, r in enumerate(mgnify, start=1)],
        QUERIES_FILE: queries(config),
    }
    paths = []
    for name, records in contents.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(write_atomic(path, fasta_text(records, config.line_width)))
        path.chmod(0o644)  # data to share, not the private temp file's 0600
        logger.info("wrote %s (%d sequences)", path, len(records))
    return paths


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print(f"usage: python -m protein.search.demo OUT_FOLDER\n\n{__doc__.splitlines()[0]}", file=sys.stderr)
        return 2
    for path in write_demo(argv[0]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
