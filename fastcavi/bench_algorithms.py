"""``python -m fastcavi.bench_algorithms``: the older name of
``python -m fastcavi.bench.algorithms``."""

if __name__ == "__main__":
    import sys

    from .bench.algorithms import main

    sys.exit(main())
