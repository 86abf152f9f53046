# The broker is one self-contained file: no npm install in the image.
# Build: docker build -t keyhole-broker .   Run: docker run -p 8787:8787 -v ./broker.yaml:/etc/keyhole/broker.yaml:ro \
#   -e KEYHOLE_SIGNING_KEY -e VERCEL_TOKEN_MARKETING keyhole-broker
FROM node:24-alpine
WORKDIR /opt/keyhole
COPY dist/broker/ ./dist/broker/
USER node
EXPOSE 8787
ENV PORT=8787
HEALTHCHECK --interval=30s --timeout=3s CMD wget -qO- http://127.0.0.1:8787/healthz || exit 1
# A 1 MB young generation keeps memory low while streaming large uploads (measured in
# docs/benchmarks.md); `node --max-semi-space-size=1 …` does the same.
ENV NODE_OPTIONS=--max-semi-space-size=1
ENTRYPOINT ["node", "/opt/keyhole/dist/broker/index.js"]
CMD ["serve", "--config", "/etc/keyhole/broker.yaml", "--host", "0.0.0.0"]
