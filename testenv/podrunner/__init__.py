"""A dev-only kubelet stand-in for the local stack (`python -m testenv.podrunner`).

The local stack runs a real kube-apiserver and controller manager but no scheduler and no
kubelet, so the pods of the Deployments the operator renders would stay Pending. The runner
registers a Node, binds those pods to it, and runs each as a local process with the pod's
command, environment, Secrets and mounted ConfigMaps materialised in a pod directory and its
own loopback address; it reports the pods' status from their probes, restarts crashed or
unhealthy processes, and stops them when their pods are deleted. The Deployment's
readyReplicas, and so the pipeline's Ready condition and replica counts, are then real.

Only pods of Deployments labelled `app.kubernetes.io/managed-by: dataquarantine-operator` that
run `python -m validator_pod ...` or `python -m quarantine_operator ...` are started. Never use
it where a kubelet runs pods.
"""

from testenv.podrunner.options import RunnerOptions
from testenv.podrunner.runner import PodRunner
from testenv.podrunner.statuses import NODE_NAME
from testenv.podrunner.workers import PodProcess

__all__ = ["NODE_NAME", "PodProcess", "PodRunner", "RunnerOptions"]
