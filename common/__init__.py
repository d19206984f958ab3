"""The bottom layer: what every stage shares and nothing else.

Typed configuration, the errors the pipeline raises on purpose, the Arrow schemas and the
batch contract handed between stages, the staging area's files. It imports only its
libraries, never `extract`, `transform`, `load` or the orchestration above them.
"""
