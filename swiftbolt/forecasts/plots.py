"""Pictures for the model asset's metadata: out-of-sample hit rate per horizon beside the baselines, and the
top feature importances. Returned as markdown with an embedded PNG (the Dagster UI renders it)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd


def model_report_png(figures: pd.DataFrame, importance: list[tuple[str, float]], title: str) -> bytes:
    """Left: hit rate with its Wilson interval per horizon for the model and the direction baselines.
    Right: the top feature importances (gain share) of one model."""
    import matplotlib  # ~0.4 s of import: where a picture is drawn, not at code location load

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=80)
    models = [m for m in ("lightgbm", "persistence", "always_up", "up_frequency") if m in set(figures["model"])]
    horizons = list(dict.fromkeys(figures["horizon"]))
    width = 0.8 / max(len(models), 1)
    for i, m in enumerate(models):
        sub = figures[figures["model"] == m].set_index("horizon").reindex(horizons)
        x = np.arange(len(horizons)) + i * width
        rate = sub["hit_rate"].to_numpy(float)
        err = np.vstack([rate - sub["hit_low"].to_numpy(float), sub["hit_high"].to_numpy(float) - rate])
        ax1.bar(x, rate, width, label=m, yerr=np.nan_to_num(err), capsize=2)
    ax1.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax1.set_xticks(np.arange(len(horizons)) + 0.4 - width / 2, horizons)
    ax1.set_ylim(0.3, 0.8)
    ax1.set_ylabel("out-of-sample hit rate (95% Wilson)")
    ax1.legend(fontsize=7, loc="upper left")
    names = [n for n, _ in importance][::-1]
    ax2.barh(names, [v for _, v in importance][::-1], color="tab:green")
    ax2.set_xlabel("gain share (median model)")
    ax2.tick_params(axis="y", labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
