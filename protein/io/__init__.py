"""File formats: FASTA queries, MSAs (A3M, Stockholm) and template hits (HHR, hmmsearch), read into the plain
records of `protein.io.types`. Every malformed input raises `protein.errors.InputError` naming the file, the
record and the line."""

from protein.io.alignments import (
    MAX_HITS,
    check_query,
    parse_a3m,
    parse_stockholm,
    read_a3m,
    read_stockholm,
)
from protein.io.fasta import RecordError, iter_fasta, parse_fasta, read_fasta
from protein.io.hits import (
    parse_hhr,
    parse_hmmsearch_a3m,
    parse_hmmsearch_sto,
    read_hhr,
    read_hmmsearch_sto,
)
from protein.io.types import FastaRecord, Msa, TemplateHit

__all__ = [
    "MAX_HITS", "FastaRecord", "Msa", "RecordError", "TemplateHit", "check_query", "iter_fasta", "parse_a3m",
    "parse_fasta", "parse_hhr", "parse_hmmsearch_a3m", "parse_hmmsearch_sto", "parse_stockholm", "read_a3m",
    "read_fasta", "read_hhr", "read_hmmsearch_sto", "read_stockholm",
]
