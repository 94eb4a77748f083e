// Package deploy holds the deployment files (deploy/Dockerfile, Kubernetes
// manifests, Prometheus and Grafana configuration) and the tests that check
// them, and the repository's docker-compose.yml, against the bridge: its
// config keys, listener ports, build flags and exported metrics. It has no
// code of its own.
package deploy
