"""Code written into a fresh CDK app by tests/test_packaging.py (not imported by the suite)."""
