"""Safe XML: entity expansion and external entities are refused with the file named, reading nothing."""

import sys

import pytest

from rsvision.datasets.voc import VocDataset
from rsvision.datasets.xml import parse_xml
from rsvision.errors import AnnotationError

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE annotation [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<annotation><filename>&lol3;</filename></annotation>
"""

_opened: list[str] = []
_watching: list[bool] = []


def _audit(event, args):
    if _watching and event == "open" and args and isinstance(args[0], str):
        _opened.append(args[0])


sys.addaudithook(_audit)


def _parse_watching(path):
    _opened.clear()
    _watching.append(True)
    try:
        return parse_xml(path)
    finally:
        _watching.clear()


def test_billion_laughs_is_refused(tmp_path):
    path = tmp_path / "bomb.xml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(AnnotationError, match="bomb.xml.*entity"):
        parse_xml(path)


@pytest.mark.parametrize(
    "doctype, filename",
    [
        ('<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file://{secret}">]>', "&xxe;"),
        ('<!DOCTYPE annotation [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>', "a.jpg"),
        ('<!DOCTYPE annotation SYSTEM "file://{secret}">', "a.jpg"),
    ],
    ids=["general-entity", "parameter-entity", "external-dtd"],
)
def test_external_references_are_refused_and_nothing_is_read(tmp_path, doctype, filename):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    path = tmp_path / "xxe.xml"
    body = f"<annotation><filename>{filename}</filename></annotation>"
    path.write_text(f'<?xml version="1.0"?>\n{doctype.format(secret=secret)}\n{body}')
    with pytest.raises(AnnotationError, match="xxe.xml.*external") as err:
        _parse_watching(path)
    assert "TOP-SECRET" not in str(err.value)
    assert str(secret) not in _opened


def test_reader_reports_the_attack_with_the_file_name(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "evil.xml").write_text(BILLION_LAUGHS)
    with pytest.raises(AnnotationError, match="evil.xml"):
        VocDataset(tmp_path)


def test_empty_and_malformed_xml(tmp_path):
    (tmp_path / "empty.xml").write_text("  \n")
    with pytest.raises(AnnotationError, match="empty.xml: empty XML"):
        parse_xml(tmp_path / "empty.xml")
    (tmp_path / "bad.xml").write_text("<annotation><object></annotation>")
    with pytest.raises(AnnotationError, match="bad.xml: malformed XML"):
        parse_xml(tmp_path / "bad.xml")


def test_internal_doctype_without_entities_is_accepted(tmp_path):
    path = tmp_path / "ok.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE annotation>\n<annotation><filename>a.jpg</filename></annotation>')
    assert parse_xml(path).find("filename").text == "a.jpg"
