"""The command-line arguments that the resumable experiments share."""

import os

from experiments.backend_choice import add_backend_argument
from experiments.backend_choice import check_backend
from experiments.fashion_mnist import default_data_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_common_arguments(parser, name):
    """`--out` (the JSON record, by default `logs/<name>/results.json`; the
    TensorBoard runs go next to it), `--data-dir`, `--verbose` and
    `--backend`."""
    parser.add_argument(
        "--out", default=os.path.join(REPO, "logs", name, "results.json"),
        help="the JSON record; finished runs in it are skipped",
    )
    parser.add_argument(
        "--data-dir", default=default_data_dir(),
        help="folder with the four official Fashion-MNIST .gz files",
    )
    parser.add_argument("--verbose", type=int, default=0)
    add_backend_argument(parser)


def parse_checked(parser, argv):
    """Parses `argv`, refusing a `--backend` other than the imported Keras's."""
    args = parser.parse_args(argv)
    check_backend(parser, args)
    return args
