"""Test configurations beyond the app's own stacks.

Each module here defines ``CASES: dict[str, Callable[[cdk.App], cdk.Stack]]``;
the key is the stack ID. The session fixture synthesizes the app's stacks and
every case once, in one app with the cdk-nag gates, and every gate, snapshot
and assertion reads from that one synthesis.
"""
