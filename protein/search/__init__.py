"""MSA and template search: database configuration, search backends, database shards, the search cache and the
search of one query through a preset's databases (`search_query`)."""

from protein.search.base import Hit, MsaSearcher, SearchResult, TemplateSearcher
from protein.search.binaries import HhblitsBinary, HmmsearchBinary, JackhmmerBinary, MmseqsBinary
from protein.search.config import (
    JACKHMMER_PRESETS, HhblitsConfig, HmmerThresholds, HmmsearchConfig, JackhmmerConfig, MmseqsConfig,
)
from protein.search.hmmer import PyhmmerHmmsearch, PyhmmerJackhmmer
from protein.search.pipeline import QuerySearchResult, search_query
from protein.search.shards import (
    FastaIndex, Shard, index_fasta, load_index, merge, open_index, search_shard, shard,
)

__all__ = [
    "JACKHMMER_PRESETS", "FastaIndex", "HhblitsBinary", "HhblitsConfig", "Hit", "HmmerThresholds",
    "HmmsearchBinary", "HmmsearchConfig", "JackhmmerBinary", "JackhmmerConfig", "MmseqsBinary", "MmseqsConfig",
    "MsaSearcher", "PyhmmerHmmsearch", "PyhmmerJackhmmer", "QuerySearchResult", "SearchResult", "Shard",
    "TemplateSearcher", "index_fasta", "load_index", "merge", "open_index", "search_query", "search_shard", "shard",
]
