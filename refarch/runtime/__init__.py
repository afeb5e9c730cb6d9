"""Code that runs in AWS (Lambda handlers, workers), shipped with the patterns."""
