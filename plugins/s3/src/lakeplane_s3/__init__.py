"""Lakeplane object store for any S3-compatible service, registered as ``s3``."""

from lakeplane_s3.store import S3ObjectStore, S3Options, S3Params

__all__ = ["S3ObjectStore", "S3Options", "S3Params"]
