"""The version of sk_cnn (read by pyproject.toml and written into saved and exported files)."""

__version__ = "0.1.0"
