"""File formats mnist-core reads and writes: GGUF models (`gguf_reader`, `gguf_writer`) and MNIST's IDX files."""
