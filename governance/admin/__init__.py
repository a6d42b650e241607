from . import accounts, catalogue  # noqa: F401  (registers the model admins)
