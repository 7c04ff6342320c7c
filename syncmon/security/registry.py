"""The detectors every project runs, in one list, and their rules by name.

The order is the order detections of one signal come out in. A project's own
configuration (rules off, parameters overridden) is applied by `detector_config`.
"""

from __future__ import annotations

from typing import Any

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


# rule name -> detector class (each has `rule`, `defaults` and takes its params).
RULES: dict[str, Any] = {cls.rule: cls for cls in DETECTOR_CLASSES}


def default_detectors(project_id: int) -> list[Detector]:
    """A fresh set of every detector with its default thresholds."""
    return [cls() for cls in DETECTOR_CLASSES]
