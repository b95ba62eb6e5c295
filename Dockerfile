# vexport: one image for API replicas (`vexport serve`) and export agents (`vexport agent`).
# Build: docker build -t vexport .     Run scaled out: docker compose up (compose.yaml).

FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# The gRPC code is generated, never committed: setup.py runs protoc while building the wheel.
RUN python -m build --wheel --outdir /wheels

FROM python:3.11-slim
# FFmpeg comes with the imageio-ffmpeg and PyAV wheels; fonts ship in the package.
RUN useradd --system --create-home --home-dir /var/lib/vexport vexport
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER vexport
WORKDIR /var/lib/vexport
ENV PYTHONUNBUFFERED=1 VEXPORT_SERVER__DATA_DIR=/var/lib/vexport
EXPOSE 50051 8080
ENTRYPOINT ["vexport"]
CMD ["serve", "--config", "/etc/vexport/vexport.toml"]
