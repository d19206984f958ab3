"""Tests of the extract stage."""
