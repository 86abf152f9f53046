# The Keyhole broker: one self-contained bundle (dist/broker/, committed and checked against a
# fresh build), so the image runs no npm install and carries no node_modules.
#   docker build -t keyhole-broker .
#   docker run --read-only -p 8787:8787 -v ./broker.yaml:/etc/keyhole/broker.yaml:ro \
#     -e KEYHOLE_SIGNING_KEY -e VERCEL_TOKEN_MARKETING keyhole-broker
# Kubernetes: deploy/kubernetes/keyhole-broker.yaml. Operations: docs/operations.md.

# node:24-slim (Debian, glibc) pinned by its multi-platform index digest. The machine that wrote
# this could not reach a registry: the digest is the one several public repositories pinned for
# node:24-slim in autumn 2026 (the latest dated record of it: 2026-10-09), not one resolved here.
# Check and refresh it deliberately: `docker buildx imagetools inspect node:24-slim`, or
# Dependabot's docker ecosystem.
FROM node:24-slim@sha256:0e0ff40c39bc087845bfb27465a0df4ea419520094bc35842ff83dd8cbe6f9b6

ENV NODE_ENV=production PORT=8787
WORKDIR /opt/keyhole
# Owned by root and read-only to the broker's user: the process cannot change its own code.
COPY dist/broker/ ./dist/broker/

# The image's `node` user, by number so Kubernetes' runAsNonRoot can verify it is not root.
USER 1000:1000
EXPOSE 8787

# Liveness only (/readyz is for load balancers). Node's own fetch: the slim image has no curl/wget.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8787)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# --max-semi-space-size=1: a 1 MB young generation keeps memory flat while uploads stream through
# (docs/benchmarks.md: peak RSS 101 MB instead of 158 MB for 1 GB, same throughput). On the command
# line rather than NODE_OPTIONS, so the health check's short-lived node keeps its defaults.
# The broker writes no file: it runs with a read-only root filesystem and no writable volume.
# SIGTERM: stop accepting, finish in-flight requests (10 s at most), exit 0.
ENTRYPOINT ["node", "--max-semi-space-size=1", "/opt/keyhole/dist/broker/index.js"]
CMD ["serve", "--config", "/etc/keyhole/broker.yaml", "--host", "0.0.0.0"]
