"""`first_line`: what a one-line report quotes of an error, even one without a message."""

from rsvision.errors import first_line


def test_first_line_of_an_error():
    assert first_line(ValueError("bad value\nmore detail")) == "bad value"
    assert first_line(ValueError("  padded  ")) == "padded"
    assert first_line(ValueError("x" * 500), 200) == "x" * 200
    assert first_line(RuntimeError()) == "RuntimeError"  # batch's failed-scene row once crashed here
