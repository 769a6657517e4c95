"""Spectral indices and band arithmetic as a dense predictor: one float32 band per index, per pixel.

The index catalogue is Awesome Spectral Indices, read from the JSON files the ``spyndex`` package ships (280
indices with their formulas, band symbols and constants); spyndex itself is never imported (it would pull in
pandas and plotting packages). A band symbol (``N``, ``R``, ``G``, ``B``, ``S1``, ``RE1`` ...) means the scene band
whose centre wavelength lies in the symbol's range, the nearest to its middle; a scene band can also be named
directly (``B08``, ``red``). Constants (``L``, ``g``, ``C1`` ...) take the catalogue's defaults unless given.

Expressions are parsed into a tree of numbers, names, ``+ - * / **``, parentheses and a few functions (Python's
own parser, then only those nodes are accepted): user text is never evaluated. Where a denominator is zero, a
result is not finite, or any band it reads is nodata, the pixel is NaN (the output's nodata).
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsvision.core.sensors import Band, band_in_range
from rsvision.errors import BandNotFoundError, RsvisionError
from rsvision.tasks.base import DensePredictor, TileBatch


class ExpressionError(RsvisionError, ValueError):
    """An expression that cannot be parsed, or names what neither the scene nor the catalogue knows."""


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Pow: np.power}
_FUNCTIONS = {"sqrt": np.sqrt, "abs": np.abs, "exp": np.exp, "log": np.log, "log10": np.log10}


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, its tree, and the names it reads (bands, symbols or constants)."""

    text: str
    tree: ast.expr
    names: tuple[str, ...]


def parse_expression(text: str) -> Expression:
    """Parse ``text``; anything but numbers, names, ``+ - * / **``, unary signs, parentheses and the functions
    ``sqrt abs exp log log10`` is an error that points at its column."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise ExpressionError(f"cannot parse {text!r}: {err.msg} at column {err.offset or 0}") from None
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names:
            names.append(node.id)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
                raise ExpressionError(_at(text, node, f"only the functions {', '.join(_FUNCTIONS)} may be called"))
            if len(node.args) != 1:
                raise ExpressionError(_at(text, node, f"{node.func.id} takes one argument"))
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExpressionError(_at(text, node, f"{node.value!r} is not a number"))
        elif not isinstance(node, _ALLOWED):
            raise ExpressionError(_at(text, node, f"{type(node).__name__.lower()} is not allowed"))
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return Expression(text, tree, tuple(n for n in names if n not in calls))


_ALLOWED = (
    ast.BinOp,
    ast.UnaryOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Call,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
)


def _at(text: str, node: ast.AST, message: str) -> str:
    return f"in {text!r} at column {getattr(node, 'col_offset', 0) + 1}: {message}"


def evaluate(expression: Expression, values: Mapping[str, np.ndarray | float]) -> np.ndarray:
    """The expression over arrays of one shape (and numbers): float32, NaN where a denominator is zero or a value
    is not finite."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.asarray(_eval(expression.tree, values), dtype=np.float32)
    return np.where(np.isfinite(out), out, np.float32(np.nan))


def _eval(node: ast.expr, values: Mapping[str, np.ndarray | float]):
    if isinstance(node, ast.Constant):
        return np.float32(node.value)
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, values)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call):
        return _FUNCTIONS[node.func.id](_eval(node.args[0], values))
    left, right = _eval(node.left, values), _eval(node.right, values)
    if isinstance(node.op, ast.Div):  # x / 0 is NaN, never inf
        right = np.where(right == 0, np.float32(np.nan), right)
        return left / right
    return _BINARY[type(node.op)](left, right)


# ----------------------------------------------------------------------------- the catalogue


@functools.cache
def _catalogue_files() -> Path:
    spec = importlib.util.find_spec("spyndex")
    if spec is None or not spec.submodule_search_locations:
        raise RsvisionError("the spectral index catalogue needs the spyndex package: pip install spyndex")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.cache
def _load(name: str) -> dict:
    return json.loads((_catalogue_files() / name).read_text())


def index_names() -> list[str]:
    """Every index of the catalogue, by its short name."""
    return sorted(_load("spectral-indices-dict.json")["SpectralIndices"])


@dataclass(frozen=True)
class SpectralIndex:
    """One index: its short name, formula and what its symbols are."""

    name: str
    formula: str
    long_name: str

    @property
    def expression(self) -> Expression:
        return parse_expression(self.formula)


def spectral_index(name: str) -> SpectralIndex:
    """The catalogue's index of that short name (any case)."""
    indices = _load("spectral-indices-dict.json")["SpectralIndices"]
    by_lower = {k.lower(): k for k in indices}
    key = by_lower.get(name.strip().lower())
    if key is None:
        close = difflib.get_close_matches(name.upper(), list(indices), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (rsvision spectral --list names them all)"
        raise ExpressionError(f"unknown spectral index {name!r}{hint}")
    entry = indices[key]
    return SpectralIndex(key, entry["formula"], entry["long_name"])


def catalogue_constants() -> dict[str, float]:
    """The catalogue's constants and their default values."""
    return {k: float(v["default"]) for k, v in _load("constants.json").items() if v.get("default") is not None}


def symbol_band(symbol: str, bands: Sequence[Band]) -> Band | None:
    """The band a catalogue symbol (``N``, ``R`` ...) means among ``bands``: centre wavelength within the symbol's
    range, nearest its middle, the finest among equals; None when none fits or the symbol is not a band."""
    spec = _load("bands.json").get(symbol)
    if spec is None:
        return None
    return band_in_range(list(bands), float(spec["min_wavelength"]), float(spec["max_wavelength"]))


# ----------------------------------------------------------------------------- the predictor


@dataclass(frozen=True)
class Formula:
    """An output band: its name, expression, and for each name it reads the scene band (or None: a constant)."""

    name: str
    expression: Expression
    reads: Mapping[str, str | None]


def resolve_formula(
    name: str, expression: Expression, bands: Sequence[Band], given: Mapping[str, float] | None = None
) -> Formula:
    """Map each name of ``expression`` onto a scene band (by its name, then as a catalogue symbol by wavelength)
    or a constant (given, else the catalogue's default); a name that is neither is an error naming what the
    scene has."""
    by_name = {b.name.lower(): b.name for b in bands}
    defaults = {**catalogue_constants(), **(given or {})}
    reads: dict[str, str | None] = {}
    for symbol in expression.names:
        if symbol.lower() in by_name:
            reads[symbol] = by_name[symbol.lower()]
        elif (band := symbol_band(symbol, bands)) is not None:
            reads[symbol] = band.name
        elif symbol in defaults:
            reads[symbol] = None
        else:
            spec = _load("bands.json").get(symbol)
            what = f"{spec['long_name']}, {spec['min_wavelength']}-{spec['max_wavelength']} nm" if spec else "a name"
            raise BandNotFoundError(
                f"{name} needs {symbol} ({what}), which the scene's bands {', '.join(b.name for b in bands)} "
                "do not provide"
            )
    return Formula(name, expression, reads)


class SpectralPredictor(DensePredictor):
    """One float32 band per formula, computed per pixel (``scale`` multiplies band values first: ``1e-4`` turns
    Sentinel-2 digital numbers into reflectance). Pixels where any band read holds ``nodata`` (or NaN) are NaN.
    ``scaling`` says how the values read were scaled; it is written on the output as its ``scaling`` tag."""

    output = "scores"

    def __init__(
        self,
        formulas: Sequence[Formula],
        scale: float = 1.0,
        constants: Mapping[str, float] | None = None,
        nodata: float | None = None,
        scaling: str | None = None,
    ):
        self.formulas, self.scale, self.nodata_in = list(formulas), float(scale), nodata
        self.output_tags = {"scaling": scaling} if scaling else None
        self.constants = {**catalogue_constants(), **(constants or {})}
        self.bands = sorted({b for f in self.formulas for b in f.reads.values() if b is not None})
        self.num_outputs = len(self.formulas)
        self.class_names = [f.name for f in self.formulas]
        self.check()

    def predict(self, batch: TileBatch) -> np.ndarray:
        masks = batch.masks.copy()
        if self.nodata_in is not None:
            masks |= (batch.images == np.float32(self.nodata_in)).any(axis=1)
        images = batch.images * np.float32(self.scale) if self.scale != 1 else batch.images
        out = np.empty((len(images), self.num_outputs, *images.shape[2:]), np.float32)
        position = {band: i for i, band in enumerate(self.bands)}
        for k, formula in enumerate(self.formulas):
            values = {
                symbol: images[:, position[band]] if band is not None else np.float32(self.constants[symbol])
                for symbol, band in formula.reads.items()
            }
            out[:, k] = np.broadcast_to(evaluate(formula.expression, values), out[:, k].shape)
        out[np.broadcast_to(masks[:, None], out.shape)] = np.nan
        return out
