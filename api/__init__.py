"""HTTP API (FastAPI) for admins, auditors and devices, and the `facegate` command line."""

from api.app import create_app
from api.services import AppServices
from api.settings import ApiSettings

__all__ = ["ApiSettings", "AppServices", "create_app"]
