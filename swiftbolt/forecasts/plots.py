"""Pictures for the model asset's metadata: out-of-sample hit rate per horizon beside the baselines, and the
top feature importances. Returned as markdown with an embedded PNG (the Dagster UI renders it)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd


def _pyplot():
    """matplotlib's pyplot on the Agg backend, imported where a picture is drawn (~0.4 s of import), not
    when the code location loads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    _pyplot().close(fig)
    return buf.getvalue()


def model_report_png(figures: pd.DataFrame, importance: list[tuple[str, float]], title: str) -> bytes:
    """Left: hit rate with its Wilson interval per horizon for the model and the direction baselines.
    Right: the top feature importances (gain share) of one model."""
    fig, (ax1, ax2) = _pyplot().subplots(1, 2, figsize=(10, 3.6), dpi=80)
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
    return _png(fig)


def reliability_png(table: pd.DataFrame, title: str) -> bytes:
    """Stated confidence against the realised rate per (model_type, horizon) curve of a calibration table."""
    fig, ax = _pyplot().subplots(figsize=(5, 4), dpi=80)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect")
    for (model, horizon), g in table.groupby(["model_type", "horizon"]):
        ax.plot(g["predicted"], g["actual"], marker="o", ms=3, lw=1, label=f"{model} {horizon}")
    ax.set_xlabel("stated confidence")
    ax.set_ylabel("realised rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)
    return _png(fig)


def hit_rates_png(table: pd.DataFrame, title: str, horizons: tuple[str, ...]) -> bytes:
    """Hit rate per horizon (in the order of `horizons`) and model of a performance table, bars."""
    pivot = table.pivot_table(index="horizon", columns="model", values="hit_rate")
    pivot = pivot.reindex([h for h in horizons if h in pivot.index])
    fig, ax = _pyplot().subplots(figsize=(6, 3.5), dpi=80)
    pivot.plot.bar(ax=ax, width=0.8)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("hit rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
