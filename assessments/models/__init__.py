from .findings import Evidence, Finding, FindingStatus
from .runs import Assessment, AssessmentBatch, AssessmentStatus, ReviewState

__all__ = [
    "Assessment",
    "AssessmentBatch",
    "AssessmentStatus",
    "Evidence",
    "Finding",
    "FindingStatus",
    "ReviewState",
]
