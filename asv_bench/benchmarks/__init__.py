"""asv benchmarks for fastff (run from asv_bench/: ``asv run --python=same --quick``)."""
