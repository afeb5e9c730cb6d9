"""refarch: AWS reference architectures as CDK constructs.

One module per pattern (``refarch.fanout``, ...), shared secure building
blocks in ``refarch.secure`` and pure workload math in ``refarch.sizing``.
"""
