"""Parse and sanitize SMILES with RDKit, never raising on any input.

:func:`parse_smiles` returns a :class:`ParsedSmiles`; an invalid input carries a one-line ``reason``
that starts with one of these categories (:class:`Reason`), checked in this order:

=========================  ==================================================================
``not a string``           the value is not text (``None``, NaN, a number, bytes, ...)
``empty``                  nothing but whitespace
``too long``               more than :data:`MAX_SMILES_CHARS` characters (checked before RDKit)
``disallowed characters``  whitespace inside the string, control or non-ASCII characters, or
                           characters that SMILES never uses (``<``, ``{``, ``'``, ``_``, ...)
``reaction SMILES``        contains ``>``: a reaction, not a compound
``SMARTS query``           query syntax (``~ & , ; !``, ``[#6]``, ``[$(...)]``): a pattern, not a compound
``unparsable``             RDKit cannot read it: unbalanced ``()`` or ``[]``, unclosed ring,
                           unknown element, misplaced bond, ...
``too large``              more than :data:`MAX_HEAVY_ATOMS` heavy atoms or :data:`MAX_RINGS` rings
``wildcard atoms``         contains ``*`` atoms (a fragment or template, not a compound)
``invalid chemistry``      sanitization fails: impossible valence, non-kekulizable aromatic ring
``no heavy atoms``         only hydrogens (``[H][H]``)
=========================  ==================================================================

A valid input may carry a ``note``: a salt or mixture (``a.b``) keeps its largest fragment
(``kept largest fragment of 2 ...``) and atom-map numbers are removed. The canonical form is RDKit's
isomeric canonical SMILES of what was kept, with explicit hydrogens removed.

RDKit's own log output is blocked while parsing (never printed); its parser message becomes the
detail of an ``unparsable`` reason.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from rdkit import Chem, rdBase

log = logging.getLogger(__name__)

#: longest SMILES accepted (characters, after stripping surrounding whitespace)
MAX_SMILES_CHARS = 500
#: most heavy (non-hydrogen) atoms accepted
MAX_HEAVY_ATOMS = 150
#: most independent rings (cyclomatic number) accepted
MAX_RINGS = 40
#: how much of a bad input an error message shows
_SHOW_CHARS = 60

#: every character a (non-reaction, non-query) SMILES may contain
_SMILES_PUNCTUATION = "()[]=#$:/\\@+-.%*"
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + _SMILES_PUNCTUATION)
#: characters that only appear in SMARTS queries
_SMARTS_ONLY = frozenset("~&,;!")
#: elements that SMILES allows without brackets
_ORGANIC_SUBSET = ("Cl", "Br", "B", "C", "N", "O", "P", "S", "F", "I")
_AROMATIC_ORGANIC = ("b", "c", "n", "o", "p", "s")
_RDKIT_LOG = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")


class Reason(StrEnum):
    """Why an input is not a usable compound SMILES (the first words of ``ParsedSmiles.reason``)."""

    NOT_A_STRING = "not a string"
    EMPTY = "empty"
    TOO_LONG = "too long"
    BAD_CHARACTERS = "disallowed characters"
    REACTION = "reaction SMILES"
    SMARTS = "SMARTS query"
    UNPARSABLE = "unparsable"
    TOO_LARGE = "too large"
    WILDCARD = "wildcard atoms"
    INVALID_CHEMISTRY = "invalid chemistry"
    NO_HEAVY_ATOMS = "no heavy atoms"


@dataclass
class ParsedSmiles:
    """One parsed input.

    Attributes:
        input: the input as given (``repr`` of it when it was not a string).
        mol: the sanitized RDKit molecule (largest fragment), or None when invalid.
        canonical: RDKit canonical isomeric SMILES of ``mol``, or None.
        ok: True when ``mol`` is usable.
        reason: one line, ``"<category>: <detail>"`` (category from :class:`Reason`) when invalid.
        note: one line about a change made to a valid input (salt stripped, atom maps removed).
        code: the :class:`Reason` category when invalid.
    """

    input: str
    mol: Chem.Mol | None = None
    canonical: str | None = None
    ok: bool = False
    reason: str | None = None
    note: str | None = None
    code: Reason | None = None

    @property
    def message(self) -> str:
        """One line naming the input and what is wrong (or ``"ok"``)."""
        if self.ok:
            return "ok" if self.note is None else f"ok ({self.note})"
        return f"invalid SMILES {shorten(self.input)!r}: {self.reason}"

    def require(self) -> Chem.Mol:
        """The molecule, or ``ValueError`` with :attr:`message`."""
        if not self.ok or self.mol is None:
            raise ValueError(self.message)
        return self.mol


def shorten(text: str, n: int = _SHOW_CHARS) -> str:
    """``text`` cut to ``n`` characters with a marker saying how long it was."""
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} chars)"


def _invalid(raw: str, code: Reason, detail: str) -> ParsedSmiles:
    detail = " ".join(detail.split())  # one line, whatever RDKit said
    return ParsedSmiles(input=raw, ok=False, reason=f"{code}: {detail}", code=code)


# ------------------------------------------------------------------------------------ checks


def _check_characters(s: str) -> tuple[Reason, str] | None:
    """Categorise the first character that a compound SMILES cannot contain."""
    for i, ch in enumerate(s):
        if ch in _ALLOWED:
            continue
        if ch.isspace():
            return Reason.BAD_CHARACTERS, f"whitespace {ch!r} at position {i + 1} (give one SMILES, no spaces)"
        if not ch.isprintable() or not ch.isascii():
            return Reason.BAD_CHARACTERS, f"character {ch!r} at position {i + 1} is not printable ASCII"
    for i, ch in enumerate(s):
        if ch not in _ALLOWED and ch != ">" and ch not in _SMARTS_ONLY:
            return Reason.BAD_CHARACTERS, f"character {ch!r} at position {i + 1} is not used in SMILES"
    if (at := s.find(">")) >= 0:
        return Reason.REACTION, f"'>' at position {at + 1}: a reaction is not a compound"
    for i, ch in enumerate(s):
        if ch in _SMARTS_ONLY:
            return Reason.SMARTS, f"query symbol {ch!r} at position {i + 1}: a pattern is not a compound"
    for token in ("[#", "[$("):
        at = s.find(token)
        if at >= 0:
            return Reason.SMARTS, f"query atom {token!r} at position {at + 1}: a pattern is not a compound"
    return None


def _check_brackets(s: str) -> str | None:
    """Describe the first unbalanced ``()`` or ``[]`` (cheap, before RDKit), or None."""
    opened: list[int] = []
    bracket_at = -1
    for i, ch in enumerate(s):
        if bracket_at >= 0:
            if ch == "]":
                bracket_at = -1
            elif ch in "[()":
                return f"{ch!r} at position {i + 1} inside the atom '[' opened at position {bracket_at + 1}"
            continue
        if ch == "[":
            bracket_at = i
        elif ch == "]":
            return f"']' at position {i + 1} has no matching '['"
        elif ch == "(":
            opened.append(i)
        elif ch == ")":
            if not opened:
                return f"')' at position {i + 1} has no matching '('"
            opened.pop()
    if bracket_at >= 0:
        return f"'[' at position {bracket_at + 1} is never closed"
    if opened:
        return f"'(' at position {opened[-1] + 1} is never closed"
    return None


@lru_cache(maxsize=1)
def _element_symbols() -> frozenset[str]:
    table = Chem.GetPeriodicTable()
    return frozenset(table.GetElementSymbol(z) for z in range(1, 119))


def _diagnose_elements(s: str) -> str | None:
    """After RDKit failed: name an unknown element symbol, if that is the problem."""
    elements = _element_symbols()
    aromatic_bracket = {"b", "c", "n", "o", "p", "s", "se", "as", "te", "si"}
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "[":
            end = s.find("]", i)
            body = s[i + 1:end] if end > 0 else s[i + 1:]
            m = re.match(r"\d*([A-Z][a-z]?|[a-z]{1,2})", body)
            if m:
                sym = m.group(1)
                known = elements if sym[0].isupper() else aromatic_bracket
                if sym not in known and sym[0] not in known:
                    return f"unknown element {sym!r} in {s[i:end + 1]!r} at position {i + 1}"
            i = end + 1 if end > 0 else len(s)
            continue
        if ch.isalpha():
            two = s[i:i + 2]
            if two in ("Cl", "Br"):
                i += 2
                continue
            if len(two) == 2 and two[1].islower() and two in elements:
                return f"element {two!r} at position {i + 1} must be written in brackets, e.g. [{two}]"
            if ch in _ORGANIC_SUBSET or ch in _AROMATIC_ORGANIC:
                i += 1
                continue
            if ch.isupper() and ch in elements:
                return f"element {ch!r} at position {i + 1} must be written in brackets, e.g. [{ch}]"
            return f"unknown element {ch!r} at position {i + 1}"
        i += 1
    return None


def _rdkit_message(text: str) -> str:
    """The useful part of RDKit's parser log: first line, without timestamps and echoes of the input."""
    lines = [_RDKIT_LOG.sub("", ln).strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "RDKit could not read it"
    first = lines[0].removeprefix("SMILES Parse Error:").strip()
    first = re.split(r" while parsing:| for input:", first)[0].strip()
    pos = next((m.group(1) for ln in lines if (m := re.search(r"around position (\d+)", ln))), None)
    return f"{first} around position {pos}" if pos else first


# ------------------------------------------------------------------------------------ parse


def parse_smiles(smiles: object) -> ParsedSmiles:
    """Parse one SMILES into a sanitized molecule, or say in one line why it is not usable.

    Never raises: any input (also ``None``, NaN, bytes, 10,000-character strings) gives a
    :class:`ParsedSmiles`; the reasons are listed in the module docstring.
    """
    if not isinstance(smiles, str):
        if smiles is None:
            detail = "got None"
        elif isinstance(smiles, float) and math.isnan(smiles):
            detail = "missing value (NaN)"
        else:
            detail = f"got {type(smiles).__name__} {shorten(repr(smiles))}"
        return _invalid(repr(smiles), Reason.NOT_A_STRING, detail)
    raw = smiles
    try:
        with rdBase.BlockLogs():  # RDKit warnings (e.g. on lone hydrogens) are not for the user
            return _parse(raw)
    except Exception as exc:  # noqa: BLE001 -- the promise is "never raises"; RDKit may throw anything
        log.warning("unexpected error parsing %r: %s", shorten(raw), exc)
        return _invalid(raw, Reason.UNPARSABLE, f"RDKit failed ({type(exc).__name__}: {str(exc)[:120]})")


def _parse(raw: str) -> ParsedSmiles:
    s = raw.strip()
    if not s:
        return _invalid(raw, Reason.EMPTY, "no SMILES given" if not raw else "only whitespace")
    if len(s) > MAX_SMILES_CHARS:
        return _invalid(raw, Reason.TOO_LONG, f"{len(s)} characters (limit {MAX_SMILES_CHARS})")
    if bad := _check_characters(s):
        return _invalid(raw, *bad)
    if bad := _check_brackets(s):
        return _invalid(raw, Reason.UNPARSABLE, f"unbalanced brackets: {bad}")

    with rdBase.CaptureErrorLog() as capture:
        mol = Chem.MolFromSmiles(s, sanitize=False)
    if mol is None:
        detail = _diagnose_elements(s) or _rdkit_message(capture.messages)
        return _invalid(raw, Reason.UNPARSABLE, detail)

    heavy = sum(1 for a in mol.GetAtoms() if a.GetAtomicNum() != 1)
    if heavy > MAX_HEAVY_ATOMS:
        return _invalid(raw, Reason.TOO_LARGE, f"{heavy} heavy atoms (limit {MAX_HEAVY_ATOMS})")
    n_parts = len(Chem.GetMolFrags(mol, sanitizeFrags=False))
    rings = mol.GetNumBonds() - mol.GetNumAtoms() + n_parts
    if rings > MAX_RINGS:
        return _invalid(raw, Reason.TOO_LARGE, f"{rings} rings (limit {MAX_RINGS})")
    wild = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if wild:
        return _invalid(raw, Reason.WILDCARD, f"{len(wild)} '*' atom(s), first at atom {wild[0]}: "
                                              "a fragment or template is not a compound")

    try:
        Chem.SanitizeMol(mol)
        mol = Chem.RemoveHs(mol)
    except (Chem.rdchem.MolSanitizeException, ValueError, RuntimeError) as exc:
        return _invalid(raw, Reason.INVALID_CHEMISTRY, str(exc) or type(exc).__name__)

    notes: list[str] = []
    parts = Chem.GetMolFrags(mol, asMols=False)
    if len(parts) > 1:
        parts = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True)  # sanitized: ring info set
        ranked = sorted(((p.GetNumHeavyAtoms(), Chem.MolToSmiles(p), p) for p in parts),
                        key=lambda t: (-t[0], t[1]))
        mol = ranked[0][2]
        dropped = ", ".join(t[1] for t in ranked[1:4]) + (", ..." if len(ranked) > 4 else "")
        notes.append(f"kept largest fragment of {len(parts)} (dropped {dropped})")
    if mol.GetNumHeavyAtoms() == 0:
        return _invalid(raw, Reason.NO_HEAVY_ATOMS, "only hydrogen atoms")
    if any(a.GetAtomMapNum() for a in mol.GetAtoms()):
        for a in mol.GetAtoms():
            a.SetAtomMapNum(0)
        notes.append("removed atom-map numbers")
    canonical = Chem.MolToSmiles(mol)
    return ParsedSmiles(input=raw, mol=mol, canonical=canonical, ok=True,
                        note="; ".join(notes) if notes else None)


def parse_smiles_batch(smiles: Sequence[object]) -> list[ParsedSmiles]:
    """Parse many inputs; the result is aligned with ``smiles`` (one :class:`ParsedSmiles` per row)."""
    if isinstance(smiles, str):
        raise TypeError("parse_smiles_batch takes a sequence of SMILES, got one str; use parse_smiles")
    return [parse_smiles(s) for s in smiles]


def as_mol(item: object) -> Chem.Mol:
    """An RDKit molecule from a ``Mol`` (returned as is) or a SMILES (parsed); ``ValueError`` otherwise."""
    if isinstance(item, Chem.Mol):
        return item
    return parse_smiles(item).require()


def as_mols(items: Sequence[object]) -> list[Chem.Mol]:
    """:func:`as_mol` for each item; the error names the first bad row and its reason."""
    if isinstance(items, (str, Chem.Mol)):
        items = [items]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(as_mol(item))
        except ValueError as exc:
            raise ValueError(f"row {i}: {exc}") from None
    return out
