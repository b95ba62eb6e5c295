"""vexport: clips and snapshots from camera archives and live streams."""

__version__ = "0.1.0"
