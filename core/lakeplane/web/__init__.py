"""The HTTP layer: the Litestar app, errors as problem documents, auth guards."""
