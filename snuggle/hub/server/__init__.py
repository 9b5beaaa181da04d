"""The self-hostable Hub server: storage backend (backend.py), HTTP API and web pages.

Kept import-light on purpose: `import snuggle.hub.server` loads nothing heavy; import
`snuggle.hub.server.backend.HubBackend` (SQLAlchemy) or the app module where needed.
"""
