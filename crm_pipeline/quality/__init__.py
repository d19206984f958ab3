"""The data-quality gate (issue 17, docs/quality.md): business expectations of
config/quality.yaml validated with Great Expectations on a night's small metric tables,
between scoring and publication. Great Expectations is imported in `validation` only."""
