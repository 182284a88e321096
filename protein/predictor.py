"""From a sequence and its alignments to ranked structures: `protein.predict` and the `Predictor` behind it.

    import protein
    predictions = protein.predict("MKTAYIAKQR...", msas=["uniref90_hits.sto", "bfd_hits.a3m"])
    best = predictions[0]                       # ranked by mean pLDDT, as AlphaFold2 ranks monomer models
    best.plddt, best.pae, best.ptm
    best.save("out/")                           # or protein.prediction.write_target for the whole folder

Features are built as AlphaFold2 builds them (`protein.features`), processed for each model's preset, padded to
a length bucket (so that targets of similar length share one compiled model) and the outputs cut back.
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from protein.errors import InputError, ProteinError
from protein.features.msa import DATABASE_ORDER, make_msa_features
from protein.features.processing import process_features
from protein.features.sequence import make_sequence_features
from protein.features.templates import TemplateFeaturizer, empty_template_features
from protein.io import FastaRecord, Msa, TemplateHit, check_query, iter_fasta, read_a3m, read_stockholm
from protein.io.hits import read_hhr, read_hmmsearch_sto
from protein.model.config import PRESETS, preset_config
from protein.model.params import default_params_dir, download, find_params, load_params, params_filename
from protein.model.random_params import random_params
from protein.model.runner import Runner
from protein.prediction import Prediction, rank
from protein.structure import residue_constants as rc

logger = logging.getLogger(__name__)

# The five released monomer models with the PAE head: pLDDT, PAE and pTM for every prediction.
DEFAULT_MODELS = tuple(f"model_{i}_ptm" for i in range(1, 6))
# Padded lengths: a target of L residues runs at the first bucket >= L (beyond the last: multiples of 256). Every
# bucket is one more compilation of each model, and compiling costs more than the padding for all but the longest
# targets, so the ladder is coarse: steps of 64 residues to 512, 128 to 1024, 256 beyond (AlphaFold3 pads to
# steps of 256).
LENGTH_BUCKETS = (64, 128, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048)


def length_bucket(num_res: int) -> int:
    """The padded length a target of `num_res` residues runs at."""
    for bucket in LENGTH_BUCKETS:
        if num_res <= bucket:
            return bucket
    return -(-num_res // 256) * 256


@dataclass
class Target:
    """One query: its id (as given), sequence, and raw features once built."""

    id: str
    sequence: str
    description: str = ""
    msas: list[Msa] = field(default_factory=list)
    template_hits: list[TemplateHit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_msa(path: str | os.PathLike, query_sequence: str) -> Msa:
    """An alignment file by its suffix (.a3m, .sto/.stockholm; .gz allowed), checked to have the query first.
    Stockholm files named after a capped database (uniref90_hits.sto) keep AlphaFold2's hit cap."""
    from protein.io import MAX_HITS

    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ""
    if kind == ".a3m":
        return read_a3m(path, query_sequence=query_sequence)
    if kind in (".sto", ".stockholm"):
        cap = next((n for name, n in MAX_HITS.items() if path.name.lower().startswith(name)), None)
        return read_stockholm(path, max_sequences=cap, query_sequence=query_sequence)
    raise InputError(f"{path}: unknown alignment format {kind or '(no suffix)'!r}; give .a3m or .sto files")


def msa_query(path: str | os.PathLike) -> str:
    """The query (first row, gaps and insertions removed) of an alignment file."""
    path = Path(path)
    kind = [s.lower() for s in path.suffixes if s.lower() != ".gz"][-1:] or [""]
    msa = read_a3m(path) if kind[0] == ".a3m" else read_stockholm(path, max_sequences=1)
    return msa.sequences[0].replace("-", "")


def database_order(path: Path) -> int:
    """AlphaFold2's MSA order (UniRef90, BFD/UniRef30, MGnify) from a file name; other files after them."""
    stem = path.name.lower()
    ranks = [rank for name, rank in DATABASE_ORDER.items() if stem.startswith(name)]
    return min(ranks) if ranks else len(DATABASE_ORDER)


def read_template_hits(path: str | os.PathLike, query_sequence: str) -> list[TemplateHit]:
    """Template hits from an HHR file (hhsearch) or an hmmsearch Stockholm file (pdb_hits.sto)."""
    path = Path(path)
    kind = [s.lower() for s in path.suffixes if s.lower() != ".gz"][-1:] or [""]
    if kind[0] == ".hhr":
        return read_hhr(path)
    if kind[0] in (".sto", ".stockholm"):
        return read_hmmsearch_sto(query_sequence, path)
    raise InputError(f"{path}: unknown template hit format; give an .hhr (hhsearch) or .sto (hmmsearch) file")


def raw_features(
    target: Target, templates: TemplateFeaturizer | None = None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """AlphaFold2's raw features of a target (sequence, MSA, templates) and notes on how they were made."""
    notes = list(target.notes)
    sequence = target.sequence
    _, unknown = rc.sequence_to_aatype(sequence, target.id)
    if unknown:
        listed = ", ".join(f"{letter}{position + 1}" for position, letter in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        notes.append(f"{len(unknown)} residue letters read as unknown (X): {listed}{more}")
    features = make_sequence_features(sequence, target.id, len(sequence))
    if target.msas:
        features.update(make_msa_features(target.msas))
    else:
        logger.warning("%s: no MSA given: single-sequence mode (usually much less accurate)", target.id)
        features.update(make_msa_features([Msa([sequence], [[0] * len(sequence)], [target.id])]))
    if templates is not None and target.template_hits:
        result = templates.get_templates(sequence, target.template_hits)
        for message in result.warnings:
            logger.warning("%s: template: %s", target.id, message)
        for message in result.errors:
            logger.warning("%s: template hit skipped: %s", target.id, message)
        features.update(result.features)
        notes.append(f"{result.features['template_aatype'].shape[0]} templates")
    else:
        features.update(empty_template_features(len(sequence)))
    return features, notes


class Predictor:
    """Runs models on targets, keeping each model's parameters and compiled programs between targets.

    models: preset names (default: the five `_ptm` models). params_dir: folder of params_<model>.npz (default:
    the user cache; downloaded there on first use when `download_missing`). random_params_seed: run with
    random parameters instead (smoke tests; every output says so).
    """

    def __init__(
        self,
        models: Sequence[str] | None = None,
        params_dir: str | os.PathLike | None = None,
        random_params_seed: int | None = None,
        download_missing: bool = True,
    ):
        self.models = tuple(models or DEFAULT_MODELS)
        unknown = [m for m in self.models if m not in PRESETS]
        if unknown:
            raise InputError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(PRESETS)}")
        self.params_dir = params_dir
        self.random_params_seed = random_params_seed
        self.download_missing = download_missing
        self._runners: dict[str, Runner] = {}

    @property
    def random_params(self) -> bool:
        return self.random_params_seed is not None

    def runner(self, model: str) -> Runner:
        if model not in self._runners:
            preset = preset_config(model)
            if self.random_params:
                params = random_params(preset, seed=self.random_params_seed + self.models.index(model))
            else:
                params = load_params(self._params_path(model), model)
            self._runners[model] = Runner(preset, params)
        return self._runners[model]

    def _params_path(self, model: str) -> Path:
        try:
            return find_params(model, self.params_dir)
        except ProteinError:
            if self.params_dir is not None or not self.download_missing or model in ("tiny", "small"):
                raise
        folder = default_params_dir()
        folder.mkdir(parents=True, exist_ok=True)
        try:
            # one download at a time: the workers of a batch that all lack the parameters wait for the first
            with open(folder / ".download.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    return find_params(model, self.params_dir)  # fetched by another process while this one waited
                except ProteinError:
                    pass
                logger.info("parameters for %s not found: downloading the official ones into %s", model, folder)
                download()
        except ProteinError as error:
            raise type(error)(
                f"{params_filename(model)} is not in {default_params_dir()} and downloading it failed ({error}). "
                "Without network access, copy the official params_model_*.npz files there (or into a folder "
                "given by --params-dir / $PROTEIN_PARAMS_DIR), or test the pipeline with --random-params SEED."
            ) from error
        return find_params(model, self.params_dir)

    def predict(
        self,
        target: Target,
        templates: TemplateFeaturizer | None = None,
        num_recycle: int | None = None,
        seed: int = 0,
        early_stop_tolerance: float | None = None,
    ) -> tuple[list[Prediction], dict[str, np.ndarray], dict[str, float], list[str]]:
        """Every model on one target: (ranked predictions, raw features, timings, notes)."""
        start = time.perf_counter()
        features, notes = raw_features(target, templates)
        timings = {"features": time.perf_counter() - start}
        predictions = []
        for model in self.models:
            prediction = self.predict_model(model, features, target.id, target.sequence, seed, num_recycle,
                                            early_stop_tolerance, single_sequence=not target.msas)
            timings[f"process_features_{model}"] = prediction.timings.pop("process_features")
            predictions.append(prediction)
        timings["total"] = sum(timings.values()) + sum(sum(p.timings.values()) for p in predictions)
        return rank(predictions), features, timings, notes

    def predict_model(
        self,
        model: str,
        features: Mapping[str, np.ndarray],
        target_id: str,
        sequence: str,
        seed: int = 0,
        num_recycle: int | None = None,
        early_stop_tolerance: float | None = None,
        num_res_padded: int | None = None,
        single_sequence: bool = False,
        name: str | None = None,
        trim: bool = True,
    ) -> Prediction:
        """One model on a target's raw features, run at `num_res_padded` residues (default: the target's length
        bucket; its own length for AlphaFold2's exact-shape runs) and cut back to the target. `name`: the
        prediction's model name in file names (default `model`; e.g. model_1_ptm_seed_1 for several seeds).
        trim: run the MSA cut to its depth bucket and, without templates, without the template modules
        (`Runner.run`); False runs everything at the preset's padding, as AlphaFold2 does (for benchmarks).
        The prediction's timings include `process_features`."""
        if model not in self.models:
            raise InputError(f"model {model!r} is not one of this predictor's ({', '.join(self.models)})")
        num_res = len(sequence)
        padded = length_bucket(num_res) if num_res_padded is None else num_res_padded
        if padded < num_res:
            raise InputError(f"{target_id}: cannot run {num_res} residues padded to {padded}")
        runner = self.runner(model)
        start = time.perf_counter()
        recycles = runner.preset.data.num_recycle if num_recycle is None else num_recycle
        processed = process_features(features, runner.preset, seed, num_recycle=recycles, num_res_padded=padded)
        process_seconds = time.perf_counter() - start
        result = runner.run(processed, num_recycle=recycles, early_stop_tolerance=early_stop_tolerance,
                            trim_msa=trim, skip_templates=trim)
        prediction = Prediction(
            target_id=target_id,
            model_name=name or model,
            sequence=sequence,
            atom_positions=result.final_atom_positions[:num_res],
            atom_mask=result.final_atom_mask[:num_res],
            plddt=result.plddt[:num_res],
            pae=None if result.predicted_aligned_error is None else result.predicted_aligned_error[:num_res, :num_res],
            max_pae=result.max_predicted_aligned_error,
            ptm=result.ptm,
            seed=seed,
            num_recycles=result.num_recycles,
            recycle_tolerances=list(result.recycle_tolerances),
            timings={"process_features": process_seconds, **{k: float(v) for k, v in result.timings.items()}},
            random_params=self.random_params,
            single_sequence=single_sequence,
        )
        logger.info(
            "%s %s: mean pLDDT %.1f%s (%d residues, run at %d)", target_id, prediction.model_name,
            prediction.mean_plddt, "" if result.ptm is None else f", pTM {result.ptm:.3f}", num_res, padded,
        )
        return prediction


def targets_from(sequence_or_fasta: str | os.PathLike | FastaRecord) -> Iterator[Target | Exception]:
    """Targets of a sequence string, FASTA text, FASTA file or record; a bad record yields its InputError (the
    others go on)."""
    if isinstance(sequence_or_fasta, FastaRecord):
        yield Target(sequence_or_fasta.id, sequence_or_fasta.sequence, sequence_or_fasta.description)
        return
    if isinstance(sequence_or_fasta, str) and sequence_or_fasta.lstrip().startswith(">"):
        source: Iterable[str] | Path = sequence_or_fasta.splitlines()
    elif isinstance(sequence_or_fasta, str) and not os.path.exists(sequence_or_fasta) and "/" not in sequence_or_fasta:
        sequence = "".join(sequence_or_fasta.split()).upper()
        if not sequence.isalpha():
            yield InputError(f"the sequence given holds characters other than letters: {sequence_or_fasta[:40]!r}")
            return
        yield Target("query", sequence)
        return
    else:
        source = Path(sequence_or_fasta)
        if not source.is_file():
            yield InputError(f"{source}: no such FASTA file")
            return
    for item in iter_fasta(source):
        if isinstance(item, FastaRecord):
            yield Target(item.id, item.sequence, item.description)
        else:
            yield item.to_exception()


def attach_msas(targets: Sequence[Target], msa_paths: Sequence[str | os.PathLike]) -> list[InputError]:
    """Gives each alignment file to the target whose sequence is its query (row 0), in AlphaFold2's database order.

    Returns an InputError for each file that cannot be read or whose query is none of the targets' sequences
    (the other files are still attached)."""
    by_sequence: dict[str, list[Target]] = {}
    for target in targets:
        by_sequence.setdefault(target.sequence, []).append(target)
    errors = []
    for path in sorted((Path(p) for p in msa_paths), key=database_order):
        try:
            query = msa_query(path)
            matches = by_sequence.get(query.upper())
            if not matches:
                raise InputError(f"{path}: its query (first row, {len(query)} residues) is none of the input sequences")
            for target in matches:
                target.msas.append(read_msa(path, target.sequence))
        except InputError as error:
            errors.append(error)
    return errors


_MSA_SUFFIXES = (".a3m", ".sto", ".stockholm", ".a3m.gz", ".sto.gz")
# Template search output beside the MSAs: AlphaFold2's pdb_hits.sto (hmmsearch) / pdb_hits.hhr (hhsearch),
# OpenFold's hmm_output.sto; never read as MSAs (their rows are PDB chains, not the query first).
_TEMPLATE_HIT_STEMS = ("pdb_hits", "hmm_output")
_TEMPLATE_HIT_SUFFIXES = (".hhr", ".hhr.gz")


def is_template_hits(path: str | os.PathLike) -> bool:
    """Whether a file beside the alignments holds template hits (pdb_hits.sto / .hhr), not an alignment."""
    name = Path(path).name.lower()
    return name.startswith(_TEMPLATE_HIT_STEMS) and name.endswith(_MSA_SUFFIXES + _TEMPLATE_HIT_SUFFIXES) \
        or name.endswith(_TEMPLATE_HIT_SUFFIXES)


def attach_alignment_files(target: Target, paths: Iterable[str | os.PathLike]) -> Path | None:
    """Reads the alignments among `paths` (AlphaFold2's msas/ folder: .sto, .a3m) into `target.msas` in
    AlphaFold2's database order; returns the template hit file among them, if any. Other files are ignored.

    Raises:
      InputError: an unreadable alignment, one whose query is not the target's, or more than one hit file.
    """
    files = sorted(Path(path) for path in paths)
    hits = [path for path in files if is_template_hits(path)]
    alignments = [path for path in files if path not in hits and path.name.lower().endswith(_MSA_SUFFIXES)]
    for path in sorted(alignments, key=database_order):
        target.msas.append(read_msa(path, target.sequence))
    if len(hits) > 1:
        raise InputError(f"more than one template hit file: {', '.join(map(str, hits))}; keep one")
    return hits[0] if hits else None


def predict(
    sequence_or_fasta: str | os.PathLike | FastaRecord,
    msas: Sequence[str | os.PathLike | Msa] | None = None,
    templates: str | os.PathLike | Sequence[TemplateHit] | None = None,
    mmcif_dir: str | os.PathLike | None = None,
    max_template_date: str | datetime.date | None = None,
    params_dir: str | os.PathLike | None = None,
    models: Sequence[str] | None = None,
    num_recycle: int | None = None,
    seed: int = 0,
    random_params_seed: int | None = None,
    early_stop_tolerance: float | None = None,
) -> list[Prediction]:
    """Predicts the structure of one protein with each model; returns the predictions ranked, best first.

    sequence_or_fasta: a sequence ("MKTAYIAK..."), FASTA text, a FASTA file of one record, or a FastaRecord.
    msas: alignment files (.a3m, .sto) or Msa objects whose first row is the query; None: single-sequence mode.
    templates: a template hit file (.hhr from hhsearch, .sto from hmmsearch) or parsed hits, with `mmcif_dir`
    (a folder of <pdb_id>.cif) and `max_template_date` (default today). models: preset names (default the
    five `_ptm` models). num_recycle: default the preset's (3). random_params_seed: random weights (testing).
    """
    targets = list(targets_from(sequence_or_fasta))
    for item in targets:
        if isinstance(item, Exception):
            raise item
    if len(targets) != 1:
        raise InputError(
            f"predict takes one protein; the input holds {len(targets)} records (use `protein predict` on the "
            "FASTA, or call predict once per record)"
        )
    target = targets[0]
    for msa in msas or ():
        if isinstance(msa, Msa):
            check_query(msa, target.sequence, "<Msa object>")
            target.msas.append(msa)
        else:
            target.msas.append(read_msa(msa, target.sequence))
    featurizer = None
    if templates is not None:
        hits = read_template_hits(templates, target.sequence) if isinstance(templates, (str, os.PathLike)) else list(templates)
        target.template_hits = hits
        searcher = template_searcher(templates) if isinstance(templates, (str, os.PathLike)) else "hmmsearch"
        featurizer = template_featurizer(mmcif_dir, max_template_date, searcher)
    predictor = Predictor(models, params_dir, random_params_seed)
    predictions, _, _, _ = predictor.predict(target, featurizer, num_recycle, seed, early_stop_tolerance)
    return predictions


def template_featurizer(
    mmcif_dir: str | os.PathLike | None,
    max_template_date: str | datetime.date | None,
    searcher: str = "hmmsearch",
    obsolete_pdbs_path: str | os.PathLike | None = None,
) -> TemplateFeaturizer:
    """The template featurizer for hits of `searcher` ('hmmsearch' or 'hhsearch'); dates default to today.
    `obsolete_pdbs_path`: PDB's obsolete.dat, so that hits to obsolete entries use their replacement."""
    if mmcif_dir is None:
        raise InputError("template hits were given without mmcif_dir, the folder of the templates' mmCIF files")
    return TemplateFeaturizer(mmcif_dir, max_template_date or datetime.date.today(),
                              obsolete_pdbs_path=obsolete_pdbs_path, searcher=searcher)


def template_searcher(path: str | os.PathLike) -> str:
    """'hhsearch' for an .hhr hit file, else 'hmmsearch'."""
    return "hhsearch" if ".hhr" in [s.lower() for s in Path(path).suffixes] else "hmmsearch"
