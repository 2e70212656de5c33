"""``python -m fastcavi.bench_family``: the older name of ``python -m fastcavi.bench.family``."""

if __name__ == "__main__":
    import sys

    from .bench.family import main

    sys.exit(main())
