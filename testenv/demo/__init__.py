"""`python -m testenv.demo` (`scripts/demo`): DataQuarantine end to end on this machine.

The local stack, the CRDs and RBAC, the operator (a local process, as its ServiceAccount), the
dev-only pod runner in place of a kubelet, the sample schema and pipeline pointed at the stack,
and a stream of order events with a share of broken ones; then live progress until Ctrl-C.
`events` and `cluster` are shared with the end-to-end tests.
"""
