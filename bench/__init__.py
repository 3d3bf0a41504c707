"""kiln's benchmarks (`make bench`): verification throughput, compile time, hardware cost,
scaling and runtime, each written to ``bench/results/<family>.json`` and rendered, with
plots, into ``docs/benchmarks.md``. Run ``python -m bench.run --help``."""
