"""dwh: the Python half of a data warehouse that lives inside PostgreSQL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dwh")
except PackageNotFoundError:  # running from a checkout without `pip install -e .`
    __version__ = "0.0.0+unknown"
