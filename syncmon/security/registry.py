"""The detectors every project runs, in one list: the seam for per-project thresholds."""

from __future__ import annotations

from syncmon.security.detection import Detector
from syncmon.security.detectors.access import AuthorizationFailureBurst, ForcedBrowsing
from syncmon.security.detectors.anomaly import (
    CspViolationBurst,
    DataExfiltration,
    ImpossibleTravel,
    MalwareUpload,
)
from syncmon.security.detectors.auth import (
    BruteForce,
    CompromiseAfterFailures,
    CredentialStuffing,
    DistributedBruteForce,
    UserEnumeration,
)
from syncmon.security.detectors.injection import PathTraversal, SqlInjection, XssProbe
from syncmon.security.detectors.probing import AttackToolUserAgent, HttpProbing, SensitiveFileProbe

DETECTOR_CLASSES = (
    BruteForce,
    CredentialStuffing,
    DistributedBruteForce,
    UserEnumeration,
    CompromiseAfterFailures,
    AuthorizationFailureBurst,
    ForcedBrowsing,
    HttpProbing,
    SensitiveFileProbe,
    AttackToolUserAgent,
    PathTraversal,
    SqlInjection,
    XssProbe,
    DataExfiltration,
    MalwareUpload,
    ImpossibleTravel,
    CspViolationBurst,
)


def default_detectors(project_id: int) -> list[Detector]:
    """A fresh set of every detector with its default thresholds."""
    return [cls() for cls in DETECTOR_CLASSES]
