# One image for every role (web, worker, beat, flower, migrate); compose picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
WORKDIR /app

RUN useradd --create-home --uid 1000 app
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY . .
RUN pip install --no-deps . && mkdir -p /app/var && chown -R app:app /app/var

USER app
EXPOSE 5000 5555
CMD ["gunicorn", "--config", "config/gunicorn.py", "web:create_app()"]
