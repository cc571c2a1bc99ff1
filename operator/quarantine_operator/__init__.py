"""The DataQuarantine operator: renders ValidationSchemas and QuarantinePipelines into workloads."""
