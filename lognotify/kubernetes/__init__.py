"""Kubernetes truth: the Downward API, the memory cgroup, attempts, termination message, watch."""
