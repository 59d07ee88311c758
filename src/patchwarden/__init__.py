"""patchwarden: self-hosted patch management.

Know what is exposed, decide what to patch first, and roll patches out with zero downtime
and a way back.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
