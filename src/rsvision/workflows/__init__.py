"""One module per user job: each composes io, models, tasks, the engine and the writers, and is the Python API a
user calls (the CLI and the server only parse arguments and call these)."""

from rsvision.workflows.classify import FolderResult, SceneResult, classify_folder, classify_scene

__all__ = ["FolderResult", "SceneResult", "classify_folder", "classify_scene"]
