"""alignshift: measure and cause political, geopolitical and cultural shifts in language models."""
__version__ = "0.1.0"
