"""The HTTP API of ``patchwarden serve``.

FastAPI routes over the same ``service`` functions as the command line, with
authentication, roles and security headers at the edge.

Build the app with :func:`patchwarden.server.app.create_app`; ``patchwarden serve`` runs it
with uvicorn.
"""
