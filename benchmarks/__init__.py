"""pghaul's benchmark: the same dataset moved by pghaul and by the tools users would pick instead.

Run ``python benchmarks/run.py --help``; benchmarks/README.md says what each method is.
"""
