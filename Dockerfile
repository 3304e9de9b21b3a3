# SageMaker bring-your-own-container image: `docker run IMAGE serve` and `docker run IMAGE train`.
# Plain Dockerfile syntax (no BuildKit-only features), so buildah and podman build it too.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /opt/program
# onnxruntime-node's install script downloads CUDA files from outside the npm registry (the CPU build is in
# the package): npm 10, Node 20's, runs it unless told to skip; npm 11 runs none (package.json allowScripts).
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY container/src container/src
# onnxruntime-node ships binaries for every platform (~290 MB); keep only this one's (~45 MB).
RUN npm run build:runtime && npm prune --omit=dev \
 && arch="$(node -p process.arch)" \
 && find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 -type d ! -name linux -exec rm -rf {} + \
 && find node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 -type d ! -name "$arch" -exec rm -rf {} + \
 && test -f "node_modules/onnxruntime-node/bin/napi-v6/linux/$arch/onnxruntime_binding.node"

FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/program
COPY --from=build /opt/program/node_modules node_modules
COPY --from=build /opt/program/container/dist container/dist
COPY package.json nginx.conf ./
# Typed declarations of the inference-code hooks, for users' editors (see README: Your own inference code).
COPY container/types container/types
COPY container/serve container/train container/
# Guard against CRLF shebangs and lost run bits from a Windows checkout.
RUN sed -i 's/\r$//' container/serve container/train && chmod 755 container/serve container/train
# `serve` and `train` on PATH: SageMaker's command word runs them directly, so the Node process gets SIGTERM.
# ORT_DISABLE_TELEMETRY: onnxruntime would otherwise write a device id under /root/.cache and try uploads.
ENV PATH="/opt/program/container:${PATH}" \
    NODE_ENV=production \
    ORT_DISABLE_TELEMETRY=1
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      com.amazonaws.sagemaker.capabilities.multi-models=true
EXPOSE 8080
