import os
import sys
import tempfile

# Before Keras is imported anywhere: quiet TensorFlow, and give the suite its
# own Keras home so that it never reads or writes the user's ~/.keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="mixup_model_keras_home_")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))
