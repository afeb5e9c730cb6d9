"""refarch: AWS reference architectures as CDK constructs.

One module per pattern (``refarch.fanout``, ...), shared secure building
blocks in ``refarch.secure`` and pure workload math in ``refarch.sizing``.
"""

#: The package version, the only place it is written (pyproject.toml reads it).
__version__ = "0.2.0.dev0"
