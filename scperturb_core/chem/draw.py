"""Drawings (SVG text from RDKit's ``MolDraw2DSVG``) and descriptors of molecules."""
from __future__ import annotations

import re
from collections.abc import Sequence

from rdkit import Chem, rdBase
from rdkit.Chem import Crippen, Descriptors, rdMolDescriptors
from rdkit.Chem.Draw import rdMolDraw2D

from .fragments import fragment_instances, fragment_mol, substructure_atoms
from .parse import Reason, as_mol, parse_smiles

#: descriptor names returned by :func:`descriptors`, in display order
DESCRIPTORS: tuple[str, ...] = ("MW", "logP", "HBD", "HBA", "rings", "TPSA", "heavy atoms")
#: highlight colour (RGB in 0..1) of fragment atoms
HIGHLIGHT = (1.0, 0.6, 0.2)
#: largest drawing accepted, pixels per side
MAX_SIZE = 4000
_XML_HEADER = re.compile(r"^<\?xml[^>]*\?>\s*")


def _drawable(item: Chem.Mol | str) -> Chem.Mol:
    """A molecule to draw: compounds go through parse_smiles; fragment SMILES (with ``*``) are allowed."""
    if isinstance(item, Chem.Mol):
        return item
    parsed = parse_smiles(item)
    if parsed.ok:
        return parsed.mol
    if parsed.code == Reason.WILDCARD:
        return fragment_mol(item)
    raise ValueError(parsed.message)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if not (1 <= w <= MAX_SIZE and 1 <= h <= MAX_SIZE):
        raise ValueError(f"size must be within 1..{MAX_SIZE} pixels, got {size!r}")
    return w, h


def _svg_text(drawer: rdMolDraw2D.MolDraw2DSVG) -> str:
    drawer.FinishDrawing()
    return _XML_HEADER.sub("", drawer.GetDrawingText())


def mol_svg(mol_or_smiles: Chem.Mol | str, highlight_atoms: Sequence[int] | None = None,
            size: tuple[int, int] = (400, 300), legend: str = "") -> str:
    """SVG text (starting ``<svg``) of one molecule, with ``highlight_atoms`` (and the bonds between
    them) coloured; an invalid SMILES or atom index raises ``ValueError`` naming it."""
    mol = _drawable(mol_or_smiles)
    w, h = _check_size(size)
    atoms = sorted({int(a) for a in highlight_atoms}) if highlight_atoms is not None else []
    bad = [a for a in atoms if not 0 <= a < mol.GetNumAtoms()]
    if bad:
        raise ValueError(f"highlight atom index {bad[0]} out of range for a molecule of {mol.GetNumAtoms()} atoms")
    in_set = set(atoms)
    bonds = [b.GetIdx() for b in mol.GetBonds() if b.GetBeginAtomIdx() in in_set and b.GetEndAtomIdx() in in_set]
    drawer = rdMolDraw2D.MolDraw2DSVG(w, h)
    with rdBase.BlockLogs():
        rdMolDraw2D.PrepareAndDrawMolecule(
            drawer, mol, legend=legend, highlightAtoms=atoms, highlightBonds=bonds,
            highlightAtomColors={a: HIGHLIGHT for a in atoms}, highlightBondColors={b: HIGHLIGHT for b in bonds})
    return _svg_text(drawer)


def fragment_atom_matches(parent: Chem.Mol | str, fragment_smiles: str) -> list[int]:
    """Parent atom indices of one occurrence of a fragment (sorted; ``[]`` when it does not occur).

    A BRICS fragment of the parent maps exactly through the BRICS cut; any other fragment is found
    by a substructure match with its dummy (``*``) atoms removed.
    """
    mol = as_mol(parent)
    frag = Chem.MolToSmiles(fragment_mol(fragment_smiles))
    for hit in fragment_instances(mol, "brics"):
        if hit.smiles == frag:
            return list(hit.atoms)
    matches = substructure_atoms(mol, fragment_smiles)
    return list(matches[0]) if matches else []


def fragment_grid_svg(fragments: Sequence[Chem.Mol | str], legends: Sequence[str] | None = None,
                      mols_per_row: int = 4, sub_size: tuple[int, int] = (200, 160)) -> str:
    """SVG grid of fragments (or molecules), ``mols_per_row`` per row, with optional legends."""
    items = list(fragments)
    w, h = _check_size(sub_size)
    if not isinstance(mols_per_row, int) or mols_per_row < 1:
        raise ValueError(f"mols_per_row must be an int >= 1, got {mols_per_row!r}")
    if legends is not None and len(legends) != len(items):
        raise ValueError(f"{len(legends)} legends for {len(items)} fragments")
    if not items:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h // 4}"></svg>'
    mols = [_drawable(x) for x in items]
    cols = min(mols_per_row, len(mols))
    rows = -(-len(mols) // cols)
    drawer = rdMolDraw2D.MolDraw2DSVG(cols * w, rows * h, w, h)
    with rdBase.BlockLogs():
        drawer.DrawMolecules(mols, legends=list(legends) if legends is not None else [""] * len(mols))
    return _svg_text(drawer)


def descriptors(mol_or_smiles: Chem.Mol | str) -> dict[str, float | int]:
    """RDKit descriptors (:data:`DESCRIPTORS`): molecular weight, Crippen logP, H-bond donors and
    acceptors, ring count, topological polar surface area (A^2), heavy atoms."""
    mol = as_mol(mol_or_smiles)
    values = (Descriptors.MolWt(mol), Crippen.MolLogP(mol), rdMolDescriptors.CalcNumHBD(mol),
              rdMolDescriptors.CalcNumHBA(mol), rdMolDescriptors.CalcNumRings(mol),
              rdMolDescriptors.CalcTPSA(mol), mol.GetNumHeavyAtoms())
    return dict(zip(DESCRIPTORS, values))
