"""rsvision: remote-sensing imagery to answers, at any size, georeferenced in and out."""

from rsvision.errors import RsvisionError

__version__ = "0.1.0"
__all__ = ["RsvisionError", "__version__"]
