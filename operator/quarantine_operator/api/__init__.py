"""Versioned custom-resource types (kubebuilder's `api/`): what users write, what we report."""
