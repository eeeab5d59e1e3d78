# Build:  docker build -t sgeventd .
# Run:    docker run -d --name sgeventd -e SGEVENTD_KEY=... \
#           -v /etc/sgeventd:/etc/sgeventd:ro -v /srv/sgeventd/state:/var/lib/sgeventd \
#           -v /studio/plugins:/plugins:ro -p 127.0.0.1:9090:9090 sgeventd
# The config should put daemon.state under /var/lib/sgeventd and http.host on
# 0.0.0.0 with http.token set (the daemon refuses a non-loopback host without one).
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /opt/sgeventd sgeventd
WORKDIR /opt/sgeventd
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY bin ./bin
COPY src ./src
RUN mkdir -p /var/lib/sgeventd && chown sgeventd:sgeventd /var/lib/sgeventd
USER sgeventd
ENV NODE_ENV=production
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/sgeventd.mjs"]
CMD ["foreground", "-c", "/etc/sgeventd/sgeventd.yaml"]
