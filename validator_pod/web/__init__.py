"""The per-pipeline REST API (FastAPI)."""
