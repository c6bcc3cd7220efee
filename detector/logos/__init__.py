"""The logo stages in one package: which brands' marks a photo shows, where, and how sure.

Three stages, each a ``detector.stages.LogoStage`` built from the catalog by name (``registry.STAGES``):
``keypoints`` (``keypoints.KeypointLogos``: SIFT features with geometric verification), ``shape``
(``shapes.ShapeMatcher``: ink silhouettes) and ``cnn`` (``cnn.LogoMatcher``: CNN embeddings, ``embed/``,
against a FAISS reference index, ``index``). Each proposes ``LogoCandidate`` objects and reports the
ones that clear its threshold as ``LogoMatch``; ``geometry`` holds what they share (resize, box clamp,
NMS, cache folder). Nothing heavy is imported until a stage is built.

>>> from detector.logos import build_logo_stage, list_stages
>>> list(list_stages())
['keypoints', 'shape', 'cnn']
"""

from detector.logos.candidate import LogoCandidate
from detector.logos.registry import STAGES, AnyLogos, build_logo_stage, list_stages

__all__ = ["STAGES", "AnyLogos", "LogoCandidate", "build_logo_stage", "list_stages"]
