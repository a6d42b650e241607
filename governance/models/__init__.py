from .audit import AuditEvent
from .tenancy import Invitation, Jurisdiction, Membership, Organisation, Role, TenantQuerySet
from .users import User

__all__ = [
    "AuditEvent",
    "Invitation",
    "Jurisdiction",
    "Membership",
    "Organisation",
    "Role",
    "TenantQuerySet",
    "User",
]
