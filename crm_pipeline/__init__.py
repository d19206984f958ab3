"""The bank CRM's nightly customer pipeline: shared configuration, orchestration and CLI.

The stages live in the top-level packages `extract`, `transform` and `load`; this package
holds what ties them together (typed configuration, the run orchestration, the command line).
"""
