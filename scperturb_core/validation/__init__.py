"""Validation that mimics the real shift, and the numbers every model is judged by.

* :mod:`.splits` -- folds: compounds measured in T/NK cells asked in B/Myeloid cells, cell types, compounds;
* :mod:`.metrics` -- MRRMSE and the other metrics, each defined once;
* :mod:`.baselines` -- the simple baselines, behind the models' interface;
* :mod:`.evaluate` -- baselines and models scored on the same held-out rows;
* :mod:`.suite` -- the robustness suite over the family of simulated screens.
"""
