from .audit import AuditEvent
from .catalogue import (
    ROLES,
    CatalogueRelease,
    ClassificationRule,
    CrosswalkLink,
    Milestone,
    Obligation,
    PenaltyTier,
    Provision,
    Question,
    Regulation,
)
from .tenancy import Invitation, Jurisdiction, Membership, Organisation, Role, TenantQuerySet
from .users import User

__all__ = [
    "ROLES",
    "AuditEvent",
    "CatalogueRelease",
    "ClassificationRule",
    "CrosswalkLink",
    "Invitation",
    "Jurisdiction",
    "Membership",
    "Milestone",
    "Obligation",
    "Organisation",
    "PenaltyTier",
    "Provision",
    "Question",
    "Regulation",
    "Role",
    "TenantQuerySet",
    "User",
]
