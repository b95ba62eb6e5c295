"""Discovery: which origins exist, what their archives hold, and thumbnails of them.

The operator page and the discovery APIs (``docs/api.md``, "Discovery") ask
here before anything is exported. ``docs/design/operator.md`` says why it
works the way it does.
"""

from vexport.discovery.history import History, Interval
from vexport.discovery.origins import ArchiveInfo, OriginInfo, access_point_of
from vexport.discovery.service import ArchiveRef, Discovery
from vexport.discovery.thumbnails import MAX_IMAGES, ImageFormat, ImageSpec, Thumbnail, sample_times

__all__ = [
    "MAX_IMAGES",
    "ArchiveInfo",
    "ArchiveRef",
    "Discovery",
    "History",
    "ImageFormat",
    "ImageSpec",
    "Interval",
    "OriginInfo",
    "Thumbnail",
    "access_point_of",
    "sample_times",
]
