"""Backends: where a service's runtime runs (local processes, Knative, Kubernetes Deployments)."""
