# Image for web, worker and ray-head (docker-compose.yml). CPU torch; GPU work runs in vLLM and Ray GPU workers.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_SETTINGS_MODULE=clinic.settings
# tzdata: the per-user time zones (clinic.accounts) are the IANA names zoneinfo finds in /usr/share/zoneinfo.
RUN apt-get update && apt-get install -y --no-install-recommends curl nodejs npm tzdata && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock pyproject.toml package.json package-lock.json ./
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu && pip install -r requirements.lock
RUN npm ci --omit=dev
COPY . .
RUN pip install --no-deps -e . \
 && mkdir -p clinic/static/vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js node_modules/@picocss/pico/css/pico.min.css clinic/static/vendor/
RUN useradd --create-home clinic && mkdir -p /data/var && chown -R clinic /data /app
USER clinic
EXPOSE 8000
CMD ["gunicorn", "clinic.wsgi", "--bind", "0.0.0.0:8000"]
