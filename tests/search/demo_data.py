"""The demo databases of data/ copied into a test's folder, so that a test may touch, break or index them."""

from __future__ import annotations

import shutil
from pathlib import Path

DATA = Path(__file__).parents[2] / "data"
QUERIES = DATA / "demo_queries.fasta"


def demo_copy(folder: Path) -> Path:
    """data/demo_databases.toml and data/demo_db/ (without shard indexes) copied into `folder`; the TOML's path."""
    shutil.copytree(DATA / "demo_db", folder / "demo_db", ignore=shutil.ignore_patterns("*.shards.npz"))
    return Path(shutil.copy(DATA / "demo_databases.toml", folder))


LYSOZYME_VARIANT = (  # hen lysozyme (1AKI) with A10V, Q41S, S81T, N103E: a homolog, not a duplicate of the template
    "KVFGRCELAVAMKRHGLDNYRGYSLGNWVCAAKFESNFNTSATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCTALLSSDITASVNCAKKIVSDGEG"
    "MNAWVAWRNRCKGTDVQAWIRGCRL"
)
TEMPLATE_ENTRIES = ("1aki", "1ejg")  # mmCIF files of the shared data; 1AKI is lysozyme, 1EJG crambin
OBSOLETE_ID = "9xyz"  # made up: the id 1AKI's chain goes by in pdb_seqres, replaced by 1AKI in obsolete.dat


def template_copy(folder: Path) -> Path:
    """The demo UniRef90 with a template database: pdb_seqres of the SEQRES of `TEMPLATE_ENTRIES` (headers as in
    PDB's pdb_seqres.txt; 1AKI's chain under `OBSOLETE_ID`, as a database older than the replacement would have
    it), a pdb_mmcif folder holding the mmCIF files and obsolete.dat beside it; preset `templates`. Skips without
    the shared data. Returns the TOML's path."""
    from protein.structure import mmcif
    from tests.io.data import shared_file

    demo_copy(folder)
    (folder / "pdb_mmcif/mmcif_files").mkdir(parents=True)
    seqres = []
    for pdb_id in TEMPLATE_ENTRIES:
        path = Path(shutil.copy(shared_file(f"structures/classic/{pdb_id}.cif"), folder / "pdb_mmcif/mmcif_files"))
        name = OBSOLETE_ID if pdb_id == "1aki" else pdb_id
        for chain, sequence in mmcif.read_mmcif(path, file_id=pdb_id).chain_to_seqres.items():
            seqres.append(f">{name}_{chain} mol:protein length:{len(sequence)}  {pdb_id.upper()}\n{sequence}\n")
    (folder / "pdb_seqres.txt").write_text("".join(seqres))
    (folder / "pdb_mmcif/obsolete.dat").write_text(
        f" LIST OF OBSOLETE COORDINATE ENTRIES AND SUCCESSORS\nOBSLTE    01-JAN-98 {OBSOLETE_ID.upper()}     1AKI\n")
    config = folder / "templates.toml"
    config.write_text(
        'root = "."\n'
        '[databases.uniref90]\ntool = "jackhmmer"\npath = "demo_db/demo_uniref.fasta"\n'
        '[databases.pdb_seqres]\ntool = "hmmsearch"\npath = "pdb_seqres.txt"\n'
        '[databases.pdb_mmcif]\ntool = "mmcif"\npath = "pdb_mmcif/mmcif_files"\n'
        'extra_files = ["pdb_mmcif/obsolete.dat"]\n'
        '[presets]\ntemplates = ["uniref90", "pdb_seqres", "pdb_mmcif"]\n'
    )
    return config
