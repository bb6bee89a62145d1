"""opencoder-local: a local, offline coding assistant for the OpenCoder models."""

__version__ = "0.1.0"
