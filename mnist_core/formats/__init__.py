"""File formats mnist-core reads and writes: GGUF models (`gguf_reader`, `gguf_writer`), MNIST's IDX files, and the
PNG pictures `python -m mnist_core.eval --explain` writes (`png`)."""
