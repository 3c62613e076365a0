"""What crosses from JavaScript: Pyodide proxies of typed arrays and objects, turned into Python values."""


def to_py(data):
    """A Pyodide JsProxy (a typed array becomes a memoryview; an array or object a list or dict, typed arrays inside
    becoming memoryviews) -> Python; anything else as it is."""
    return data.to_py() if hasattr(data, "to_py") else data


def to_bytes(data):
    """Bytes-like data or a JsProxy of one -> bytes (copied only when it is not bytes already)."""
    data = to_py(data)
    return data if isinstance(data, bytes) else bytes(data)
