"""Progress through scikit-learn's callback API (``sklearn.callback``).

The task tree of a fit is: the fit itself, then one task per binary problem
when a classifier has several (one-vs-rest), then one leaf task per epoch.
A callback may stop the epochs early by returning True at the end of an
epoch.  With a scikit-learn that has no callback API, the null context
below keeps the same code path and does nothing.
"""

from ._compat import CallbackSupportMixin

if CallbackSupportMixin is None:  # scikit-learn < 1.9

    class CallbackSupportMixin:
        """Stand-in for scikit-learn's mixin: no callbacks, same calls."""

        def _init_callback_context(self, *args, **kwargs):
            return NullContext()


class NullContext:
    """A callback context that records nothing and never stops."""

    def subcontext(self, *args, **kwargs):
        return self

    def call_on_fit_task_begin(self, **kwargs):
        return self

    def call_on_fit_task_end(self, **kwargs):
        return False


def has_callbacks(estimator):
    return bool(getattr(estimator, "_skl_callbacks", None))
