"""Safe XML reading for annotation files (defusedxml) and typed field access with the file named in errors.

Entity declarations (billion laughs) and external entities or DTDs are refused before
anything is expanded or fetched, so a hostile annotation file reads nothing from disk.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as DET

from rsvision.errors import AnnotationError, InputNotFoundError


class _Parser(DET.DefusedXMLParser):
    """defusedxml's parser that also refuses a DOCTYPE naming an external DTD (an internal one is allowed)."""

    def __init__(self) -> None:
        super().__init__(forbid_dtd=True, forbid_entities=True, forbid_external=True)

    def defused_start_doctype_decl(self, name, sysid, pubid, has_internal_subset):
        if sysid or pubid:
            raise defusedxml.DTDForbidden(name, sysid, pubid)


def parse_xml(path: str | os.PathLike) -> ET.Element:
    """The root element of an XML file; unsafe, empty or malformed XML raises AnnotationError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no such annotation file: {path}")
    data = path.read_bytes()
    if not data.strip():
        raise AnnotationError(f"{path}: empty XML file")
    try:
        parser = _Parser()
        parser.feed(data)
        return parser.close()
    except defusedxml.EntitiesForbidden as err:
        if err.sysid or err.pubid:
            raise AnnotationError(
                f"{path}: external XML entity {err.name!r} ({err.sysid or err.pubid}) refused; nothing was read"
            ) from None
        raise AnnotationError(f"{path}: XML entity declaration {err.name!r} refused (entity expansion)") from None
    except (defusedxml.DTDForbidden, defusedxml.ExternalReferenceForbidden) as err:
        raise AnnotationError(
            f"{path}: external XML reference ({err.sysid or err.pubid}) refused; nothing was read"
        ) from None
    except defusedxml.DefusedXmlException as err:
        raise AnnotationError(f"{path}: unsafe XML refused ({type(err).__name__})") from None
    except ET.ParseError as err:
        raise AnnotationError(f"{path}: malformed XML ({err})") from None


def text(elem: ET.Element, tag: str, path: Path, default: str | None = None) -> str:
    """Stripped text of the child ``tag`` (a path like ``size/width`` works); missing -> default or error."""
    child = elem.find(tag)
    value = child.text.strip() if child is not None and child.text is not None else ""
    if not value:
        if default is not None:
            return default
        raise AnnotationError(f"{path}: <{elem.tag}> lacks <{tag}>")
    return value


def number(elem: ET.Element, tag: str, path: Path, default: float | None = None) -> float:
    """The child ``tag`` as a float; missing or non-numeric raises AnnotationError naming file and tag."""
    raw = text(elem, tag, path, default=None if default is None else str(default))
    try:
        return float(raw)
    except ValueError:
        raise AnnotationError(f"{path}: <{tag}> is not a number: {raw!r}") from None


def flag(elem: ET.Element, tag: str, path: Path) -> bool:
    """A 0/1 child flag such as ``difficult`` (absent -> False)."""
    return number(elem, tag, path, default=0) != 0
