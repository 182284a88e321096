"""Residue constants: amino-acid alphabets, atom layouts, chi angles and idealised rigid groups.

The tables follow the layout of AlphaFold2 (Jumper et al. (2021), Suppl. sections 1.2.1 and 1.8) so that
features, network outputs and parameters line up index for index:

* residue types in the order of their sorted three-letter codes (ALA ARG ASN ASP ... VAL), index 20 for unknown;
* the 37 heavy-atom slots of the "atom37" representation and the per-residue dense "atom14" representation;
* eight rigid groups per residue (Suppl. Table 2): 0 backbone, 1 pre-omega, 2 phi, 3 psi, 4-7 chi1-chi4;
* literature atom positions inside those groups, from the Engh & Huber (1991) ideal geometry, and the
  default frames built from them by Gram-Schmidt (Suppl. Alg. 21).

Every array here is a constant computed once at import; nothing in this module depends on JAX.
"""

from __future__ import annotations

import numpy as np

from protein.errors import InputError

# --------------------------------------------------------------------------------------------------------------
# Residue alphabets.

# Sorting the twenty three-letter codes alphabetically gives the one-letter order ARNDCQEGHILKMFPSTWYV.
restype_1to3: dict[str, str] = {
    "A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN", "E": "GLU", "G": "GLY", "H": "HIS",
    "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE", "P": "PRO", "S": "SER", "T": "THR", "W": "TRP",
    "Y": "TYR", "V": "VAL",
}
restype_3to1: dict[str, str] = {three: one for one, three in restype_1to3.items()}

restypes: list[str] = [one for one, _ in sorted(restype_1to3.items(), key=lambda item: item[1])]
restype_order: dict[str, int] = {letter: i for i, letter in enumerate(restypes)}
restype_num = len(restypes)  # 20
unk_restype_index = restype_num  # 20: every residue that is not one of the twenty.

restypes_with_x: list[str] = restypes + ["X"]
restype_order_with_x: dict[str, int] = {letter: i for i, letter in enumerate(restypes_with_x)}

unk_restype = "UNK"
resnames: list[str] = [restype_1to3[letter] for letter in restypes] + [unk_restype]
resname_to_idx: dict[str, int] = {name: i for i, name in enumerate(resnames)}

# HHblits numbers residues in the alphabetical order of their one-letter codes, then X (20) and the gap '-' (21).
# Ambiguity codes fold onto a standard residue: B (Asx) -> D, Z (Glx) -> E, U (selenocysteine) -> C; J (Xle) and
# O (pyrrolysine) become X.
_HHBLITS_ALPHABET = "ACDEFGHIKLMNPQRSTVWYX-"
_HHBLITS_ALIASES = {"B": "D", "Z": "E", "U": "C", "J": "X", "O": "X"}
HHBLITS_AA_TO_ID: dict[str, int] = {letter: i for i, letter in enumerate(_HHBLITS_ALPHABET)}
HHBLITS_AA_TO_ID.update({alias: HHBLITS_AA_TO_ID[target] for alias, target in _HHBLITS_ALIASES.items()})
ID_TO_HHBLITS_AA: dict[int, str] = dict(enumerate(_HHBLITS_ALPHABET))

restypes_with_x_and_gap: list[str] = restypes + ["X", "-"]
# HHblits id -> our id, so MSAs parsed in the HHblits alphabet can be re-indexed with one gather.
MAP_HHBLITS_AATYPE_TO_OUR_AATYPE: tuple[int, ...] = tuple(
    restypes_with_x_and_gap.index(letter) for letter in _HHBLITS_ALPHABET
)


def sequence_to_aatype(sequence: str, record_id: str = "") -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Encodes a one-letter protein sequence as residue-type indices, the way AlphaFold2's data pipeline does.

    AlphaFold2 builds `aatype` with `restype_order_with_x` and maps every letter outside the twenty standard
    residues to X (index 20). That includes the ambiguity and rare-residue codes B, Z, J, U and O: unlike the
    HHblits alphabet used for MSA rows (where U -> C, B -> D, Z -> E), the query's `aatype` keeps them unknown.
    Lower-case letters are accepted and read as upper case.

    Args:
      sequence: one-letter amino-acid codes, e.g. "MKTAYIAK".
      record_id: name of the record the sequence came from, used in error messages only.

    Returns:
      aatype: int32 [num_residues], values in 0..20.
      substituted: (0-based position, original letter) for every letter other than 'X' that was read as X.

    Raises:
      InputError: if the sequence is empty or contains a character that is not an ASCII letter.
    """
    where = f"record {record_id!r}" if record_id else "the sequence"
    if not sequence:
        raise InputError(f"{where} is empty")
    bad = [(i, char) for i, char in enumerate(sequence) if not (char.isascii() and char.isalpha())]
    if bad:
        position, char = bad[0]
        raise InputError(
            f"{where} has {len(bad)} character(s) that are not amino-acid letters, "
            f"the first {char!r} at position {position + 1}"
        )
    upper = sequence.upper()
    aatype = np.array([restype_order_with_x.get(letter, unk_restype_index) for letter in upper], dtype=np.int32)
    substituted = [
        (i, sequence[i]) for i, letter in enumerate(upper) if letter not in restype_order_with_x
    ]
    return aatype, substituted


# --------------------------------------------------------------------------------------------------------------
# Atom layouts.

# The 37 heavy-atom names that occur in the twenty residues plus the C-terminal OXT, in AlphaFold2's slot order.
atom_types: list[str] = (
    "N CA C CB O CG CG1 CG2 OG OG1 SG CD CD1 CD2 ND1 ND2 OD1 OD2 SD CE CE1 CE2 CE3 NE NE1 NE2 OE1 OE2 CH2 "
    "NH1 NH2 OH CZ CZ2 CZ3 NZ OXT"
).split()
atom_order: dict[str, int] = {name: i for i, name in enumerate(atom_types)}
atom_type_num = len(atom_types)  # 37

# The dense atom14 layout: the backbone N CA C O, then the side chain outward from CB. Empty slots are ''.
_ATOM14_NAMES = {
    "ALA": "N CA C O CB",
    "ARG": "N CA C O CB CG CD NE CZ NH1 NH2",
    "ASN": "N CA C O CB CG OD1 ND2",
    "ASP": "N CA C O CB CG OD1 OD2",
    "CYS": "N CA C O CB SG",
    "GLN": "N CA C O CB CG CD OE1 NE2",
    "GLU": "N CA C O CB CG CD OE1 OE2",
    "GLY": "N CA C O",
    "HIS": "N CA C O CB CG ND1 CD2 CE1 NE2",
    "ILE": "N CA C O CB CG1 CG2 CD1",
    "LEU": "N CA C O CB CG CD1 CD2",
    "LYS": "N CA C O CB CG CD CE NZ",
    "MET": "N CA C O CB CG SD CE",
    "PHE": "N CA C O CB CG CD1 CD2 CE1 CE2 CZ",
    "PRO": "N CA C O CB CG CD",
    "SER": "N CA C O CB OG",
    "THR": "N CA C O CB OG1 CG2",
    "TRP": "N CA C O CB CG CD1 CD2 NE1 CE2 CE3 CZ2 CZ3 CH2",
    "TYR": "N CA C O CB CG CD1 CD2 CE1 CE2 CZ OH",
    "VAL": "N CA C O CB CG1 CG2",
    "UNK": "",
}
restype_name_to_atom14_names: dict[str, list[str]] = {
    name: atoms.split() + [""] * (14 - len(atoms.split())) for name, atoms in _ATOM14_NAMES.items()
}

# Heavy atoms of each standard residue (no OXT), in atom14 order.
residue_atoms: dict[str, list[str]] = {
    name: [atom for atom in atoms if atom] for name, atoms in restype_name_to_atom14_names.items() if name != "UNK"
}

# Atom pairs whose names swap under a symmetry of the side chain (180-degree flip of a carboxylate or ring).
residue_atom_renaming_swaps: dict[str, dict[str, str]] = {
    "ASP": {"OD1": "OD2"},
    "GLU": {"OE1": "OE2"},
    "PHE": {"CD1": "CD2", "CE1": "CE2"},
    "TYR": {"CD1": "CD2", "CE1": "CE2"},
}

# Van der Waals radii in Angstrom by element (Bondi 1964).
van_der_waals_radius: dict[str, float] = {"C": 1.7, "N": 1.55, "O": 1.52, "S": 1.8}

# Peptide-bond geometry (Engh & Huber 1991); the first value is for a general residue, the second for proline.
ca_ca = 3.80209737096  # CA(i) - CA(i+1) distance for a trans peptide (omega = 180 degrees), Angstrom.
between_res_bond_length_c_n = [1.329, 1.341]
between_res_bond_length_stddev_c_n = [0.014, 0.016]
# Cosines of the bond angles across the peptide bond: mean and standard deviation.
between_res_cos_angles_c_n_ca = [-0.5203, 0.0353]  # 121.352 +- 2.315 degrees
between_res_cos_angles_ca_c_n = [-0.4473, 0.0311]  # 116.568 +- 1.995 degrees


def _layout_tables() -> tuple[np.ndarray, np.ndarray]:
    """Index maps between atom14 and atom37; row 20 (UNK) and empty slots point at slot 0."""
    atom14_to_atom37 = np.zeros([restype_num + 1, 14], dtype=np.int32)
    atom37_to_atom14 = np.zeros([restype_num + 1, atom_type_num], dtype=np.int32)
    for restype, resname in enumerate(resnames[:restype_num]):
        for slot14, atom in enumerate(restype_name_to_atom14_names[resname]):
            if atom:
                atom14_to_atom37[restype, slot14] = atom_order[atom]
                atom37_to_atom14[restype, atom_order[atom]] = slot14
    return atom14_to_atom37, atom37_to_atom14


restype_atom14_to_atom37, restype_atom37_to_atom14 = _layout_tables()  # [21, 14], [21, 37] int32

# --------------------------------------------------------------------------------------------------------------
# Chi angles.

# Each side chain's torsions are consecutive along one path of bonded atoms: chi_k is defined by path[k : k + 4].
# ARG's chi5 (NE-CZ, planar within 5 degrees) is left out, as in AlphaFold2.
_SIDE_CHAIN_TORSION_PATH = {
    "ALA": "", "GLY": "",
    "ARG": "N CA CB CG CD NE CZ",
    "ASN": "N CA CB CG OD1",
    "ASP": "N CA CB CG OD1",
    "CYS": "N CA CB SG",
    "GLN": "N CA CB CG CD OE1",
    "GLU": "N CA CB CG CD OE1",
    "HIS": "N CA CB CG ND1",
    "ILE": "N CA CB CG1 CD1",
    "LEU": "N CA CB CG CD1",
    "LYS": "N CA CB CG CD CE NZ",
    "MET": "N CA CB CG SD CE",
    "PHE": "N CA CB CG CD1",
    "PRO": "N CA CB CG CD",
    "SER": "N CA CB OG",
    "THR": "N CA CB OG1",
    "TRP": "N CA CB CG CD1",
    "TYR": "N CA CB CG CD1",
    "VAL": "N CA CB CG1",
}
chi_angles_atoms: dict[str, list[list[str]]] = {
    name: [path.split()[k : k + 4] for k in range(max(len(path.split()) - 3, 0))]
    for name, path in _SIDE_CHAIN_TORSION_PATH.items()
}

# [20][4]: 1.0 where the residue has that chi angle.
chi_angles_mask: list[list[float]] = [
    [1.0 if k < len(chi_angles_atoms[restype_1to3[letter]]) else 0.0 for k in range(4)] for letter in restypes
]

# Chi angles whose last atom is one of two symmetry-equivalent atoms, so chi and chi + pi give the same structure.
_PI_PERIODIC_CHI = {("ASP", 1), ("GLU", 2), ("PHE", 1), ("TYR", 1)}  # (residue, 0-based chi index)
# [21][4], the last row for UNK.
chi_pi_periodic: list[list[float]] = [
    [1.0 if (name, k) in _PI_PERIODIC_CHI else 0.0 for k in range(4)] for name in resnames
]

# [20, 4, 4] atom37 indices of the four atoms of each chi angle; absent angles are padded with slot 0.
chi_angles_atom_indices = np.array(
    [
        [[atom_order[atom] for atom in chi] for chi in chi_angles_atoms[restype_1to3[letter]]]
        + [[0, 0, 0, 0]] * (4 - len(chi_angles_atoms[restype_1to3[letter]]))
        for letter in restypes
    ],
    dtype=np.int64,
)

# --------------------------------------------------------------------------------------------------------------
# Rigid groups and literature atom positions (Suppl. section 1.8, Table 2).

# Atom positions in Angstrom, each in the frame of its rigid group: the origin is the end atom of the group's
# rotation axis, x points along the axis, and the atom that defines the torsion lies in the xy-plane at y > 0.
# Groups: 0 backbone (frame at CA, N in the xy-plane), 3 psi (O), 4-7 chi1-chi4. Groups 1 (pre-omega) and
# 2 (phi) hold only hydrogens, which are not modelled. Positions from Engh & Huber (1991) ideal geometry.
# Columns: residue, atom, group, x, y, z.
_LITERATURE_POSITIONS = """
ALA  N    0  -0.525   1.363   0.000
ALA  CA   0   0.000   0.000   0.000
ALA  C    0   1.526  -0.000  -0.000
ALA  CB   0  -0.529  -0.774  -1.205
ALA  O    3   0.627   1.062   0.000

ARG  N    0  -0.524   1.362  -0.000
ARG  CA   0   0.000   0.000   0.000
ARG  C    0   1.525  -0.000  -0.000
ARG  CB   0  -0.524  -0.778  -1.209
ARG  O    3   0.626   1.062   0.000
ARG  CG   4   0.616   1.390  -0.000
ARG  CD   5   0.564   1.414   0.000
ARG  NE   6   0.539   1.357  -0.000
ARG  NH1  7   0.206   2.301   0.000
ARG  NH2  7   2.078   0.978  -0.000
ARG  CZ   7   0.758   1.093  -0.000

ASN  N    0  -0.536   1.357   0.000
ASN  CA   0   0.000   0.000   0.000
ASN  C    0   1.526  -0.000  -0.000
ASN  CB   0  -0.531  -0.787  -1.200
ASN  O    3   0.625   1.062   0.000
ASN  CG   4   0.584   1.399   0.000
ASN  ND2  5   0.593  -1.188   0.001
ASN  OD1  5   0.633   1.059   0.000

ASP  N    0  -0.525   1.362  -0.000
ASP  CA   0   0.000   0.000   0.000
ASP  C    0   1.527   0.000  -0.000
ASP  CB   0  -0.526  -0.778  -1.208
ASP  O    3   0.626   1.062  -0.000
ASP  CG   4   0.593   1.398  -0.000
ASP  OD1  5   0.610   1.091   0.000
ASP  OD2  5   0.592  -1.101  -0.003

CYS  N    0  -0.522   1.362  -0.000
CYS  CA   0   0.000   0.000   0.000
CYS  C    0   1.524   0.000   0.000
CYS  CB   0  -0.519  -0.773  -1.212
CYS  O    3   0.625   1.062  -0.000
CYS  SG   4   0.728   1.653   0.000

GLN  N    0  -0.526   1.361  -0.000
GLN  CA   0   0.000   0.000   0.000
GLN  C    0   1.526   0.000   0.000
GLN  CB   0  -0.525  -0.779  -1.207
GLN  O    3   0.626   1.062  -0.000
GLN  CG   4   0.615   1.393   0.000
GLN  CD   5   0.587   1.399  -0.000
GLN  NE2  6   0.593  -1.189  -0.001
GLN  OE1  6   0.634   1.060   0.000

GLU  N    0  -0.528   1.361   0.000
GLU  CA   0   0.000   0.000   0.000
GLU  C    0   1.526  -0.000  -0.000
GLU  CB   0  -0.526  -0.781  -1.207
GLU  O    3   0.626   1.062   0.000
GLU  CG   4   0.615   1.392   0.000
GLU  CD   5   0.600   1.397   0.000
GLU  OE1  6   0.607   1.095  -0.000
GLU  OE2  6   0.589  -1.104  -0.001

GLY  N    0  -0.572   1.337   0.000
GLY  CA   0   0.000   0.000   0.000
GLY  C    0   1.517  -0.000  -0.000
GLY  O    3   0.626   1.062  -0.000

HIS  N    0  -0.527   1.360   0.000
HIS  CA   0   0.000   0.000   0.000
HIS  C    0   1.525   0.000   0.000
HIS  CB   0  -0.525  -0.778  -1.208
HIS  O    3   0.625   1.063   0.000
HIS  CG   4   0.600   1.370  -0.000
HIS  CD2  5   0.889  -1.021   0.003
HIS  ND1  5   0.744   1.160  -0.000
HIS  CE1  5   2.030   0.851   0.002
HIS  NE2  5   2.145  -0.466   0.004

ILE  N    0  -0.493   1.373  -0.000
ILE  CA   0   0.000   0.000   0.000
ILE  C    0   1.527  -0.000  -0.000
ILE  CB   0  -0.536  -0.793  -1.213
ILE  O    3   0.627   1.062  -0.000
ILE  CG1  4   0.534   1.437  -0.000
ILE  CG2  4   0.540  -0.785  -1.199
ILE  CD1  5   0.619   1.391   0.000

LEU  N    0  -0.520   1.363   0.000
LEU  CA   0   0.000   0.000   0.000
LEU  C    0   1.525  -0.000  -0.000
LEU  CB   0  -0.522  -0.773  -1.214
LEU  O    3   0.625   1.063  -0.000
LEU  CG   4   0.678   1.371   0.000
LEU  CD1  5   0.530   1.430  -0.000
LEU  CD2  5   0.535  -0.774   1.200

LYS  N    0  -0.526   1.362  -0.000
LYS  CA   0   0.000   0.000   0.000
LYS  C    0   1.526   0.000   0.000
LYS  CB   0  -0.524  -0.778  -1.208
LYS  O    3   0.626   1.062  -0.000
LYS  CG   4   0.619   1.390   0.000
LYS  CD   5   0.559   1.417   0.000
LYS  CE   6   0.560   1.416   0.000
LYS  NZ   7   0.554   1.387   0.000

MET  N    0  -0.521   1.364  -0.000
MET  CA   0   0.000   0.000   0.000
MET  C    0   1.525   0.000   0.000
MET  CB   0  -0.523  -0.776  -1.210
MET  O    3   0.625   1.062  -0.000
MET  CG   4   0.613   1.391  -0.000
MET  SD   5   0.703   1.695   0.000
MET  CE   6   0.320   1.786  -0.000

PHE  N    0  -0.518   1.363   0.000
PHE  CA   0   0.000   0.000   0.000
PHE  C    0   1.524   0.000  -0.000
PHE  CB   0  -0.525  -0.776  -1.212
PHE  O    3   0.626   1.062  -0.000
PHE  CG   4   0.607   1.377   0.000
PHE  CD1  5   0.709   1.195  -0.000
PHE  CD2  5   0.706  -1.196   0.000
PHE  CE1  5   2.102   1.198  -0.000
PHE  CE2  5   2.098  -1.201  -0.000
PHE  CZ   5   2.794  -0.003  -0.001

PRO  N    0  -0.566   1.351  -0.000
PRO  CA   0   0.000   0.000   0.000
PRO  C    0   1.527  -0.000   0.000
PRO  CB   0  -0.546  -0.611  -1.293
PRO  O    3   0.621   1.066   0.000
PRO  CG   4   0.382   1.445   0.000
PRO  CD   5   0.477   1.424   0.000

SER  N    0  -0.529   1.360  -0.000
SER  CA   0   0.000   0.000   0.000
SER  C    0   1.525  -0.000  -0.000
SER  CB   0  -0.518  -0.777  -1.211
SER  O    3   0.626   1.062  -0.000
SER  OG   4   0.503   1.325   0.000

THR  N    0  -0.517   1.364   0.000
THR  CA   0   0.000   0.000   0.000
THR  C    0   1.526   0.000  -0.000
THR  CB   0  -0.516  -0.793  -1.215
THR  O    3   0.626   1.062   0.000
THR  CG2  4   0.550  -0.718  -1.228
THR  OG1  4   0.472   1.353   0.000

TRP  N    0  -0.521   1.363   0.000
TRP  CA   0   0.000   0.000   0.000
TRP  C    0   1.525  -0.000   0.000
TRP  CB   0  -0.523  -0.776  -1.212
TRP  O    3   0.627   1.062   0.000
TRP  CG   4   0.609   1.370  -0.000
TRP  CD1  5   0.824   1.091   0.000
TRP  CD2  5   0.854  -1.148  -0.005
TRP  CE2  5   2.186  -0.678  -0.007
TRP  CE3  5   0.622  -2.530  -0.007
TRP  NE1  5   2.140   0.690  -0.004
TRP  CH2  5   3.028  -2.890  -0.013
TRP  CZ2  5   3.283  -1.543  -0.011
TRP  CZ3  5   1.715  -3.389  -0.011

TYR  N    0  -0.522   1.362   0.000
TYR  CA   0   0.000   0.000   0.000
TYR  C    0   1.524  -0.000  -0.000
TYR  CB   0  -0.522  -0.776  -1.213
TYR  O    3   0.627   1.062  -0.000
TYR  CG   4   0.607   1.382  -0.000
TYR  CD1  5   0.716   1.195  -0.000
TYR  CD2  5   0.713  -1.194  -0.001
TYR  CE1  5   2.107   1.200  -0.002
TYR  CE2  5   2.104  -1.201  -0.003
TYR  OH   5   4.168  -0.002  -0.005
TYR  CZ   5   2.791  -0.001  -0.003

VAL  N    0  -0.494   1.373  -0.000
VAL  CA   0   0.000   0.000   0.000
VAL  C    0   1.527  -0.000  -0.000
VAL  CB   0  -0.533  -0.795  -1.213
VAL  O    3   0.627   1.062  -0.000
VAL  CG1  4   0.540   1.429  -0.000
VAL  CG2  4   0.533  -0.776   1.203

"""


def _parse_literature_positions(table: str) -> dict[str, list[list]]:
    positions: dict[str, list[list]] = {}
    for line in table.strip().splitlines():
        if not line.strip():
            continue
        resname, atom, group, x, y, z = line.split()
        positions.setdefault(resname, []).append([atom, int(group), (float(x), float(y), float(z))])
    return positions


# {residue: [[atom name, rigid group 0..7, (x, y, z)], ...]}
rigid_group_atom_positions: dict[str, list[list]] = _parse_literature_positions(_LITERATURE_POSITIONS)


def _frame_from_two_axes(x_direction: np.ndarray, xy_plane_vector: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Gram-Schmidt (Suppl. Alg. 21): a 4x4 rigid transform whose x axis is along `x_direction` and whose
    xy-plane contains `xy_plane_vector`; the columns are e_x, e_y, e_z and the origin."""
    e_x = x_direction / np.linalg.norm(x_direction)
    e_y = xy_plane_vector - np.dot(xy_plane_vector, e_x) * e_x
    e_y = e_y / np.linalg.norm(e_y)
    e_z = np.cross(e_x, e_y)
    frame = np.eye(4)
    frame[:3, 0], frame[:3, 1], frame[:3, 2], frame[:3, 3] = e_x, e_y, e_z, origin
    return frame


def _default_frames(resname: str) -> np.ndarray:
    """[8, 4, 4] transforms from each rigid group's frame to its parent's at zero torsion.

    Pre-omega, phi, psi and chi1 hang off the backbone frame; chi2-4 each hang off the previous chi frame, whose
    origin is the start of their rotation axis. Chi groups the residue lacks stay all-zero.
    """
    position = {atom: np.array(xyz) for atom, _, xyz in rigid_group_atom_positions[resname]}
    frames = np.zeros([8, 4, 4])
    frames[0] = frames[1] = np.eye(4)  # The backbone frame itself; pre-omega is an identity placeholder.
    # phi rotates about CA -> N; the x axis of the backbone frame fixes the remaining freedom.
    frames[2] = _frame_from_two_axes(position["N"] - position["CA"], np.array([1.0, 0.0, 0.0]), position["N"])
    # psi rotates about CA -> C, with N on the negative y side.
    frames[3] = _frame_from_two_axes(position["C"] - position["CA"], position["CA"] - position["N"], position["C"])
    chis = chi_angles_atoms[resname]
    if chis:
        n, ca, cb = (position[atom] for atom in chis[0][:3])
        frames[4] = _frame_from_two_axes(cb - ca, n - ca, cb)
    for k in range(1, len(chis)):
        # The axis of chi_k+1 runs from the previous group's origin to an atom of the previous group.
        axis_end = position[chis[k][2]]
        frames[4 + k] = _frame_from_two_axes(axis_end, np.array([-1.0, 0.0, 0.0]), axis_end)
    return frames


def _rigid_group_tables() -> dict[str, np.ndarray]:
    tables = {
        "atom37_to_rigid_group": np.zeros([restype_num + 1, atom_type_num], dtype=np.int64),
        "atom37_mask": np.zeros([restype_num + 1, atom_type_num], dtype=np.float32),
        "atom37_rigid_group_positions": np.zeros([restype_num + 1, atom_type_num, 3], dtype=np.float32),
        "atom14_to_rigid_group": np.zeros([restype_num + 1, 14], dtype=np.int64),
        "atom14_mask": np.zeros([restype_num + 1, 14], dtype=np.float32),
        "atom14_rigid_group_positions": np.zeros([restype_num + 1, 14, 3], dtype=np.float32),
        "rigid_group_default_frame": np.zeros([restype_num + 1, 8, 4, 4], dtype=np.float32),
    }
    for restype, resname in enumerate(resnames[:restype_num]):
        for atom, group, xyz in rigid_group_atom_positions[resname]:
            slot37 = atom_order[atom]
            slot14 = restype_name_to_atom14_names[resname].index(atom)
            tables["atom37_to_rigid_group"][restype, slot37] = group
            tables["atom37_mask"][restype, slot37] = 1.0
            tables["atom37_rigid_group_positions"][restype, slot37] = xyz
            tables["atom14_to_rigid_group"][restype, slot14] = group
            tables["atom14_mask"][restype, slot14] = 1.0
            tables["atom14_rigid_group_positions"][restype, slot14] = xyz
        tables["rigid_group_default_frame"][restype] = _default_frames(resname)
    return tables


_TABLES = _rigid_group_tables()
# UNK rows (index 20) are all zero: no atoms, no frames.
restype_atom37_to_rigid_group: np.ndarray = _TABLES["atom37_to_rigid_group"]  # [21, 37] int
restype_atom37_mask: np.ndarray = _TABLES["atom37_mask"]  # [21, 37] float32
restype_atom37_rigid_group_positions: np.ndarray = _TABLES["atom37_rigid_group_positions"]  # [21, 37, 3] float32
restype_atom14_to_rigid_group: np.ndarray = _TABLES["atom14_to_rigid_group"]  # [21, 14] int
restype_atom14_mask: np.ndarray = _TABLES["atom14_mask"]  # [21, 14] float32
restype_atom14_rigid_group_positions: np.ndarray = _TABLES["atom14_rigid_group_positions"]  # [21, 14, 3] float32
restype_rigid_group_default_frame: np.ndarray = _TABLES["rigid_group_default_frame"]  # [21, 8, 4, 4] float32
del _TABLES
