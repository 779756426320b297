"""ASGI entry point for uvicorn workers: settings come from the environment."""

from contenthub import gc_settle
from contenthub.app import create_app

app = create_app()
gc_settle.start()
