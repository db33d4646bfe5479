"""Benchmarks for gxlib: a generator of realistic report files and the scale benchmark.

``python -m benchmarks.generate OUT_DIR --n N --seed S`` writes N synthetic reports;
``python -m benchmarks.run --n N --jobs J --workdir DIR`` times ``gx parse`` on them.
See benchmarks/README.md.
"""
