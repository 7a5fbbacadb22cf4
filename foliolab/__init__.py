"""foliolab: an executable model of the Linux page lifecycle with a
controlled scheduler that explores how CPUs interleave."""

__version__ = "0.1.0"
