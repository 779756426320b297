"""The tag suggester behind ``contenthub.library.tagging``: three signals, weighted by validation.

Data flow, one module per step:

* ``features``     — text → normalised character n-gram TF-IDF (what the classifier reads besides
                     the embedding).
* ``descriptions`` — signal (a): how close the asset is to each label's description.
* ``cues``         — signal (c): editable keyword cues per label (直播/开播 → 直播预告).
* ``classifier``   — signal (b): a ridge classifier over n-grams + embedding, trained on the
                     library's confirmed tags.
* ``calibration``  — combines the signals with weights fitted on out-of-fold validation scores and
                     turns the result into calibrated per-label probabilities.
* ``training``     — reads confirmed tags and editor feedback from the store, fits all of the above,
                     reports validation accuracy; retrains in the background after new confirmations.
* ``model``        — the trained model as a store document, cached in ``hub.cache`` by version.
* ``scoring``      — one asset in, ranked labels with confidence and a reason out.
* ``feedback``     — every accept, reject and edit, and the accuracy on recent confirmations.
"""
