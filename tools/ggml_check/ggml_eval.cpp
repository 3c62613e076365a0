// Loads an mnist-fc or mnist-cnn GGUF file with ggml's own GGUF parser and evaluates it with
// ggml's own CPU kernels, so that "ggml accepts our files" is checked by ggml, not by us.
//
// It follows what ggml's examples/mnist requires of a model file (see ../../../shared/docs/reference.md):
// general.architecture is mnist-fc or mnist-cnn, and every tensor has the reference's name,
// type F32 and ggml shape (ne). The forward pass is built from ggml ops (mul_mat, conv_2d,
// pool_2d, permute) as the reference builds its graph.
//
// usage: ggml_eval MODEL.gguf IMAGES LABELS PREDICTIONS_OUT [RESAVED.gguf]
//   IMAGES, LABELS: raw (uncompressed) IDX files. Prints the architecture, the accuracy and the
//   evaluation time, and writes one predicted digit per image (one byte each) to PREDICTIONS_OUT.
//   With RESAVED.gguf, the weights are also written back out by ggml's own GGUF writer, the way
//   ggml's mnist-train saves a model (architecture key, then the tensors), for our reader to load.

#include "ggml.h"
#include "ggml-cpu.h"
#include "gguf.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void fail(const std::string & what) {
    fprintf(stderr, "ggml_eval: %s\n", what.c_str());
    exit(1);
}

static std::vector<uint8_t> read_file(const char * path) {
    FILE * f = fopen(path, "rb");
    if (!f) fail(std::string(path) + ": cannot open");
    std::vector<uint8_t> bytes;
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    fclose(f);
    return bytes;
}

static uint32_t be32(const uint8_t * p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

// Returns the tensor `name` after checking its type and ggml shape against the reference's.
static ggml_tensor * expect_tensor(ggml_context * ctx, const char * name, std::vector<int64_t> ne) {
    ggml_tensor * t = ggml_get_tensor(ctx, name);
    if (!t) fail(std::string("missing tensor ") + name);
    if (t->type != GGML_TYPE_F32) fail(std::string(name) + ": type is not F32");
    for (size_t i = 0; i < 4; i++) {
        int64_t want = i < ne.size() ? ne[i] : 1;
        if (t->ne[i] != want) fail(std::string(name) + ": wrong shape");
    }
    return t;
}

int main(int argc, char ** argv) {
    if (argc != 5 && argc != 6) fail("usage: ggml_eval MODEL.gguf IMAGES LABELS PREDICTIONS_OUT [RESAVED.gguf]");

    ggml_context * weights = nullptr;
    gguf_init_params params = {/*no_alloc =*/ false, /*ctx =*/ &weights};
    gguf_context * gguf = gguf_init_from_file(argv[1], params);
    if (!gguf) fail(std::string(argv[1]) + ": ggml's GGUF parser refused the file");
    int64_t key = gguf_find_key(gguf, "general.architecture");
    if (key < 0) fail("no general.architecture");
    const std::string arch = gguf_get_val_str(gguf, key);
    if (arch != "mnist-fc" && arch != "mnist-cnn") fail("unknown architecture " + arch);

    ggml_tensor *fc1_w = nullptr, *fc1_b = nullptr, *fc2_w = nullptr, *fc2_b = nullptr;
    ggml_tensor *conv1_k = nullptr, *conv1_b = nullptr, *conv2_k = nullptr, *conv2_b = nullptr, *dense_w = nullptr, *dense_b = nullptr;
    if (arch == "mnist-fc") {
        fc1_w = expect_tensor(weights, "fc1.weight", {784, 500});
        fc1_b = expect_tensor(weights, "fc1.bias", {500});
        fc2_w = expect_tensor(weights, "fc2.weight", {500, 10});
        fc2_b = expect_tensor(weights, "fc2.bias", {10});
    } else {
        conv1_k = expect_tensor(weights, "conv1.kernel", {3, 3, 1, 8});
        conv1_b = expect_tensor(weights, "conv1.bias", {1, 1, 8, 1});
        conv2_k = expect_tensor(weights, "conv2.kernel", {3, 3, 8, 16});
        conv2_b = expect_tensor(weights, "conv2.bias", {1, 1, 16, 1});
        dense_w = expect_tensor(weights, "dense.weight", {784, 10});
        dense_b = expect_tensor(weights, "dense.bias", {10});
    }

    std::vector<uint8_t> images = read_file(argv[2]), labels = read_file(argv[3]);
    if (images.size() < 16 || be32(images.data()) != 0x803) fail("images: not a raw IDX image file");
    const int n = int(be32(images.data() + 4));
    if (images.size() != 16 + size_t(n) * 784 || labels.size() != 8 + size_t(n)) fail("images/labels: wrong size");

    std::vector<uint8_t> out(n);
    int correct = 0;
    ggml_time_init();
    const int64_t start_us = ggml_time_us();
    const int batch = 500;  // as ggml's mnist-eval: bounds the im2col buffers
    for (int first = 0; first < n; first += batch) {
        const int nb = n - first < batch ? n - first : batch;
        ggml_init_params ip = {size_t(nb) * 784 * 4 * 64 + (16 << 20), nullptr, false};
        ggml_context * ctx = ggml_init(ip);
        ggml_tensor * x = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, 28, 28, 1, nb);  // ne: x, y, channel, image
        float * px = (float *) x->data;
        for (size_t i = 0; i < size_t(nb) * 784; i++) px[i] = images[16 + size_t(first) * 784 + i] / 255.0f;

        ggml_tensor * logits;
        if (arch == "mnist-fc") {
            ggml_tensor * flat = ggml_reshape_2d(ctx, x, 784, nb);
            ggml_tensor * h = ggml_relu(ctx, ggml_add(ctx, ggml_mul_mat(ctx, fc1_w, flat), fc1_b));
            logits = ggml_add(ctx, ggml_mul_mat(ctx, fc2_w, h), fc2_b);
        } else {
            ggml_tensor * a = ggml_relu(ctx, ggml_add(ctx, ggml_conv_2d(ctx, conv1_k, x, 1, 1, 1, 1, 1, 1), conv1_b));
            a = ggml_pool_2d(ctx, a, GGML_OP_POOL_MAX, 2, 2, 2, 2, 0, 0);                    // 14, 14, 8, nb
            a = ggml_relu(ctx, ggml_add(ctx, ggml_conv_2d(ctx, conv2_k, a, 1, 1, 1, 1, 1, 1), conv2_b));
            a = ggml_pool_2d(ctx, a, GGML_OP_POOL_MAX, 2, 2, 2, 2, 0, 0);                    // 7, 7, 16, nb
            // Channels fastest, then x, then y: the (y, x, c) flatten the dense layer was trained on.
            a = ggml_cont(ctx, ggml_permute(ctx, a, 1, 2, 0, 3));                            // 16, 7, 7, nb
            logits = ggml_add(ctx, ggml_mul_mat(ctx, dense_w, ggml_reshape_2d(ctx, a, 784, nb)), dense_b);
        }
        ggml_tensor * predicted = ggml_argmax(ctx, logits);
        ggml_cgraph * graph = ggml_new_graph(ctx);
        ggml_build_forward_expand(graph, predicted);
        if (ggml_graph_compute_with_ctx(ctx, graph, 2) != GGML_STATUS_SUCCESS) fail("graph computation failed");
        const int32_t * digits = (const int32_t *) predicted->data;
        for (int i = 0; i < nb; i++) {
            out[first + i] = uint8_t(digits[i]);
            correct += digits[i] == labels[8 + first + i];
        }
        ggml_free(ctx);
    }
    const double eval_ms = (ggml_time_us() - start_us) / 1000.0;
    FILE * f = fopen(argv[4], "wb");
    if (!f || fwrite(out.data(), 1, n, f) != size_t(n)) fail(std::string(argv[4]) + ": cannot write");
    fclose(f);
    printf("%s: %s loaded by ggml (gguf v%u, %lld tensors), accuracy %.2f%% on %d images, "
           "evaluated in %.1f ms (ggml CPU, 2 threads, graph built per batch of 500)\n", argv[1], arch.c_str(),
           gguf_get_version(gguf), (long long) gguf_get_n_tensors(gguf), 100.0 * correct / n, n, eval_ms);
    if (argc == 6) {
        gguf_context * out_gguf = gguf_init_empty();
        gguf_set_val_str(out_gguf, "general.architecture", arch.c_str());
        for (ggml_tensor * t : {fc1_w, fc1_b, fc2_w, fc2_b, conv1_k, conv1_b, conv2_k, conv2_b, dense_w, dense_b}) {
            if (t) gguf_add_tensor(out_gguf, t);
        }
        if (!gguf_write_to_file(out_gguf, argv[5], false)) fail(std::string(argv[5]) + ": ggml could not write it");
        gguf_free(out_gguf);
    }
    gguf_free(gguf);
    ggml_free(weights);
    return 0;
}
