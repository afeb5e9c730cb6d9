"""The queue worker shipped with QueueWorkerFleet (a container image, or Lambda code)."""
