"""Workflow plumbing: field blocks and manifests, rule-script logging, code versions, model-file checks."""
