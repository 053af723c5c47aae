"""The models: features fitted on the training rows, the two networks, one training loop, the stacked
default predictor and its model folders.

* :mod:`.features` -- target statistics, Morgan fingerprints, fragment counts, encodings (a fitted pipeline);
* :mod:`.networks` -- the two-tower MLP and the Transformer, built from one block and one head;
* :mod:`.train` -- one ``fit`` loop for every network, and the training of an ensemble;
* :mod:`.stack` -- the default predictor: baselines, readout and networks stacked on shift-true folds;
* :mod:`.uncertainty` -- measurement noise and intervals shared by measured and predicted values;
* :mod:`.predictor` -- everything trained behind one object (any pair, new SMILES, default models);
* :mod:`.checkpoint` -- model folders written atomically and read back checked (``weights_only``).

Nothing is imported here, so that ``uncertainty`` or ``features`` can be used without loading torch.
"""
