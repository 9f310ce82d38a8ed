"""``set_output`` for image transformers: every setting accepted, the output stays an array."""

from __future__ import annotations

_CONTAINERS = ("default", "pandas", "polars")


class ArrayOutputMixin:
    """Give an image transformer scikit-learn's ``set_output``, which leaves its output alone.

    scikit-learn offers ``set_output`` only to transformers with ``get_feature_names_out``, and
    ``Pipeline.set_output`` refuses a pipeline with any step lacking it. Images (arrays of 3 or
    4 dimensions) fit in no DataFrame, so these transformers accept every setting and keep
    returning NumPy arrays, as they do under ``sklearn.set_config(transform_output="pandas")``;
    tabular steps elsewhere in the pipeline still follow the setting.
    """

    def set_output(self, *, transform=None):
        """Accept an output container setting; the output stays a NumPy array.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            The container a tabular transformer would return. Images have no tabular form,
            so every value leaves the output a NumPy array.

        Returns
        -------
        self : object
            The transformer.
        """
        if transform is not None and transform not in _CONTAINERS:
            raise ValueError(
                f"transform must be one of {', '.join(map(repr, _CONTAINERS))} or None; got "
                f"{transform!r}.")
        return self
