"""The "Am I in the dataset?" web portal: look up a GitHub user in every release, request an opt-out,
and let maintainers review requests.

FastAPI and its companions are the ``portal`` extra; nothing here is imported by ``import stackwright``
or by the core CLI. Start it with ``stackwright portal serve`` or build the app with
:func:`stackwright.portal.app.create_app`.
"""
