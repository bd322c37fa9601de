"""callqa: quality assurance and call scoring for contact centres."""

__version__ = "0.1.0"
