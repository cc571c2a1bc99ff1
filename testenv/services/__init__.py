"""One module per server of the local stack."""
