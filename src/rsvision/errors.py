"""One hierarchy of user-facing errors.

Every subclass is a user mistake or a bad input: the CLI prints ``str(err)`` on
one line and exits with code 2, without a traceback.
"""


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of an error's message (at most ``limit`` characters), or its type's name when it has none:
    what a one-line report quotes of an error raised below rsvision."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__


class RsvisionError(Exception):
    """Base of every error rsvision raises on purpose."""

    exit_code = 2


class InputNotFoundError(RsvisionError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class UnreadableRasterError(RsvisionError):
    """A raster exists but cannot be read (corrupt, truncated, unknown format)."""


class NoBandFilesError(RsvisionError):
    """A folder holds no raster band files."""


class GridMismatchError(RsvisionError):
    """Bands or scenes cannot be put on one grid."""


class DisjointScenesError(RsvisionError):
    """Two scenes do not overlap, so one cannot be aligned to the other."""


class BandNotFoundError(RsvisionError, KeyError):
    """A band was asked for that the scene lacks."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AnnotationError(RsvisionError):
    """An annotation file is malformed, unsafe or inconsistent with its image."""


class OutputError(RsvisionError):
    """An output cannot be written (unwritable folder, disk full)."""


class BandCountError(RsvisionError):
    """A raster's band count does not match the sensor or band names it was given."""


class NotGeoreferencedWarning(UserWarning):
    """A raster has no georeference: it is processed in pixel coordinates (identity transform, y down)."""


class MetricInputError(RsvisionError, ValueError):
    """Predictions and ground truth given to a metric do not fit together (shape, labels, ids)."""


class GeometryError(RsvisionError, ValueError):
    """Boxes, polygons or masks have the wrong shape or impossible values."""


class AnnotationWarning(UserWarning):
    """Annotation problems that were repaired or skipped (clipped boxes, unknown mask colours), counted per dataset."""


class PredictorError(RsvisionError):
    """A predictor is misconfigured or returned outputs of the wrong shape or kind for the tiles it was given."""


class WeightsError(RsvisionError):
    """A weights file or its card is missing, corrupt (sha256 mismatch) or does not fit the model."""


class NormalisationError(RsvisionError, ValueError):
    """An input's scaling or normalisation contradicts the Weights record it is given to."""


class EvaluationError(RsvisionError, ValueError):
    """An evaluation cannot be run as asked: unknown task, or a dataset format that does not hold the task's targets."""


class ScalingError(RsvisionError):
    """Values were asked for in a scale (reflectance, dB) that the scene's metadata cannot give."""


class TextTruncatedWarning(UserWarning):
    """A text was longer than a text tower's context and was cut to it."""


class SearchIndexError(RsvisionError):
    """A search index folder is missing, half-written, corrupt, or was built by another model than the one given."""
