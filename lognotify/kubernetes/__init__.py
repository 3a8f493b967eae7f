"""Kubernetes truth: the Downward API, the memory cgroup, attempts, the termination message, watch."""
