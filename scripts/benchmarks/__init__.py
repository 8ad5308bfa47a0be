"""The performance benchmarks of DESIGN §9, run by ``scripts/bench`` (entry point: ``main.py``).

One module per measurement — ``ingest``, ``scaleout`` (ingest on PostgreSQL and Redis, one
collector and three behind HAProxy), ``storage``, ``dashboard``, ``busy``, ``memory``, ``soak``
(ten minutes of a million visitors through one server with a visitor cap, its RSS sampled; run
only with ``--only soak``) — each with a ``run(quick) -> Result`` (``busy`` is the dashboard
benchmark run with a busy site's ``Year``: ``dashboard`` holds the one implementation both use;
``soak`` runs the ingest benchmark's server and wrk helpers); shared pieces: ``traffic`` (the
synthetic site and its visitors), ``countries`` (their addresses and a country database for
them), ``inprocess`` (the real app driven by a simulated clock), ``results`` (figures and the
table), ``machine``, and for the ingest benchmark ``bare_app.py`` (the baseline server) and
``beacons.lua`` (the wrk script).
"""
