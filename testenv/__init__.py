"""The local stack: real Kafka, PostgreSQL, S3 and Kubernetes API servers without Docker.

`python -m testenv up` obtains, caches and starts every service bound to 127.0.0.1 on free ports,
then writes an env file and a kubeconfig that tests, benchmarks and the demo read. With
`--advertise HOST`, Kafka, PostgreSQL and S3 listen on HOST and name it, for clients elsewhere.
"""
