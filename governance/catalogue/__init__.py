"""The regulatory catalogue as files: reading, validating, loading, comparing and exporting."""
