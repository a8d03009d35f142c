from labeling.models.projects import Membership, Project, Role
from labeling.models.snapshots import DatasetSnapshot, SnapshotKind, SnapshotStatus

__all__ = [
    "DatasetSnapshot",
    "Membership",
    "Project",
    "Role",
    "SnapshotKind",
    "SnapshotStatus",
]
