"""The assessment engine: pure Python over plain data, with no Django imports."""
