"""Data acquisition and preparation: download, IDX parsing, splitting, storage."""
