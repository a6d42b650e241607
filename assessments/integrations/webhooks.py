"""Placeholder: Standard Webhooks signing and delivery (issue 6)."""


def deliver_due(*, now=None) -> dict:
    raise NotImplementedError
