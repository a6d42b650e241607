"""Account security: login throttling and lockout, session timeouts, TOTP two-factor
authentication (optional for members, mandatory for staff) with single-use recovery codes.

A small Django app of its own (label `security`) so its tables and migrations stay apart from the
tenancy models; it holds no tenant data.
"""
