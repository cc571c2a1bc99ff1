"""The validator's orchestration: plan a batch (pure), write its outputs, commit its offsets."""
