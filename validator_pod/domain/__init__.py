"""The pure contract shared by the operator and the validator pod (stdlib and pydantic only)."""
