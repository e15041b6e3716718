"""Figures drawn straight to PNG files, for hitl.evaluate and Router.report."""


def agg_figure(size=(8, 5)):
    """A matplotlib Figure with an Agg canvas of its own, and its one Axes:
    no pyplot, so neither the caller's backend nor its open figures are
    touched and no display is needed.  Needs python3-matplotlib."""
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = Figure(figsize=size, dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def save(fig, ax, path, legend="lower right"):
    ax.grid(True, alpha=0.3)
    ax.legend(loc=legend, fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    return path
