"""What crosses from JavaScript: Pyodide proxies of typed arrays, turned into Python bytes."""


def to_buffer(data):
    """A Pyodide JsProxy (Uint8Array, ArrayBuffer, Uint8ClampedArray) -> memoryview; anything else as is."""
    if hasattr(data, "to_py"):
        return data.to_py()
    return data


def to_bytes(data):
    """Bytes-like data or a JsProxy -> bytes (copied only when it is not bytes already)."""
    data = to_buffer(data)
    return data if isinstance(data, bytes) else bytes(data)
