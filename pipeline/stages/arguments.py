"""The command line every per-dataset stage takes."""

from __future__ import annotations

import argparse

from pipeline.config.paths import PARAMS_FILE


def dataset_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every per-dataset stage takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dataset", help="dataset name, a key of data.datasets in params.yaml")
    parser.add_argument("--params", default=PARAMS_FILE, help="params file (default: %(default)s)")
    return parser
