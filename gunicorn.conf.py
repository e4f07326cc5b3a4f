"""gunicorn's settings beyond the command line (gunicorn reads ./gunicorn.conf.py by itself:
the Dockerfile's WORKDIR, `make up-local` and the benchmarks start it from the project root).

Every worker, once it has loaded Django, moves what it loaded (modules, URL patterns, models,
translations) out of the garbage collector's sight with gc.freeze(): those objects live as
long as the worker, and without it every full collection walks all of them again — a pause of
~55 ms that a request waiting on it pays (bench/load_visits.py); with it, ~2 ms."""

import gc


def post_worker_init(worker):
    gc.freeze()
