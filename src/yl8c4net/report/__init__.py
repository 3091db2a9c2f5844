"""The workflow report: figures and the metrics table."""
