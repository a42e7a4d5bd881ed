"""optimizer-lab's benchmark suite (``make bench``, ``python -m benchmarks``): the issue's
speed targets measured on the real data, each against what it is compared with."""
