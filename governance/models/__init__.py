from .apikeys import ApiKey, ApiScope, IdempotencyRecord
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
from .registry import AISystem, AISystemVersion, EuTier, LifecycleStage, Sourcing
from .tenancy import Invitation, Jurisdiction, Membership, Organisation, Role, TenantQuerySet
from .users import User

__all__ = [
    "ROLES",
    "AISystem",
    "AISystemVersion",
    "ApiKey",
    "ApiScope",
    "AuditEvent",
    "CatalogueRelease",
    "ClassificationRule",
    "CrosswalkLink",
    "EuTier",
    "IdempotencyRecord",
    "Invitation",
    "Jurisdiction",
    "LifecycleStage",
    "Membership",
    "Milestone",
    "Obligation",
    "Organisation",
    "PenaltyTier",
    "Provision",
    "Question",
    "Regulation",
    "Role",
    "Sourcing",
    "TenantQuerySet",
    "User",
]
