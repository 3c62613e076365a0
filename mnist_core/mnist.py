"""What an MNIST digit is, for every module that handles one: a 28x28 image of one of ten classes."""

IMAGE_SIZE = 28                    # pixels a side
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE  # 784, the models' input
N_CLASSES = 10                     # the digits 0 to 9
