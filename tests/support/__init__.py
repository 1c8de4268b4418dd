"""Test helpers shared by several test folders (generators, fixtures that are not tests)."""
