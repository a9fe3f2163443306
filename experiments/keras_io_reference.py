"""The keras.io MixUp example's own input pipeline, for comparisons.

Re-implemented from "MixUp augmentation for image classification" (keras.io):
two shuffled copies of the training data are zipped in tf.data and mixed in
`map` with a Beta sampler made of two `tf.random.gamma` draws.
"""

import tensorflow as tf


def sample_beta_distribution(size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = tf.random.gamma(shape=[size], alpha=concentration_1)
    gamma_2_sample = tf.random.gamma(shape=[size], alpha=concentration_0)
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


def mix_up(ds_one, ds_two, alpha=0.2):
    """Mixes two batches of (images, one-hot labels), as the example does."""
    images_one, labels_one = ds_one
    images_two, labels_two = ds_two
    batch_size = tf.shape(images_one)[0]
    lam = sample_beta_distribution(batch_size, alpha, alpha)
    x_l = tf.reshape(lam, (batch_size, 1, 1, 1))
    y_l = tf.reshape(lam, (batch_size, 1))
    images = images_one * x_l + images_two * (1 - x_l)
    labels = labels_one * y_l + labels_two * (1 - y_l)
    return images, labels


def mixup_dataset(x, y, batch_size, alpha=0.2, shuffle_buffer=None,
                  repeat=False, num_parallel_calls=tf.data.AUTOTUNE):
    """The example's training pipeline: zip two shuffled copies, mix in map
    (`num_parallel_calls=None` maps sequentially, when asked)."""
    shuffle_buffer = shuffle_buffer or batch_size * 100

    def one_copy():
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(shuffle_buffer)
        return (ds.repeat() if repeat else ds).batch(batch_size)

    return tf.data.Dataset.zip((one_copy(), one_copy())).map(
        lambda one, two: mix_up(one, two, alpha=alpha),
        num_parallel_calls=num_parallel_calls,
    )
