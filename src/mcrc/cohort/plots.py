"""Concordance plots (matplotlib, Agg backend, no display needed): by row and over time, PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

COLOURS = {"concordant": "#2e7d32", "discordant": "#c62828", "not_decidable": "#f9a825", "not_covered": "#9e9e9e"}


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{stem}.{ext}"
        fig.savefig(p, dpi=110, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        paths.append(p)
    plt.close(fig)
    return paths


def by_row(concordance: pl.DataFrame, out_dir: Path, top: int = 25) -> list[Path]:
    """Stacked bars: for the treatment rows that fired most, how often what was done followed them."""
    rows = (concordance.filter((pl.col("dimension") == "row") & pl.col("decisions").is_not_null()
                               & (pl.col("fired") > 0))
            .sort("fired", descending=True).head(top).reverse())
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.32 * rows.height + 1.2)))
    followed = rows.get_column("concordant").fill_null(0).to_list()
    departed = rows.get_column("discordant").fill_null(0).to_list()
    other = [f - a - b for f, a, b in zip(rows.get_column("fired").to_list(), followed, departed, strict=True)]
    left = [0] * rows.height
    segments = [("followed (what was done is among its codes)", followed, COLOURS["concordant"]),
                ("another row of its table followed, or undecided", other, COLOURS["not_covered"]),
                ("departed (nothing of its table followed)", departed, COLOURS["discordant"])]
    for label, values, colour in segments:
        ax.barh(rows.get_column("key").to_list(), values, left=left, color=colour, label=label)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("decision points where the row fired")
    ax.set_title("Concordance by knowledge-base row")
    ax.legend(loc="lower right", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, out_dir, "concordance_by_row")


def over_time(concordance: pl.DataFrame, out_dir: Path) -> list[Path]:
    """Share of decision points per status and year."""
    years = concordance.filter(pl.col("dimension") == "year").sort("key")
    fig, ax = plt.subplots(figsize=(8, 4))
    keys = years.get_column("key").to_list()
    totals = [t or 1 for t in years.get_column("decisions").to_list()]
    bottom = [0.0] * len(keys)
    for status, colour in COLOURS.items():
        share = [100 * (v or 0) / t for v, t in zip(years.get_column(status).to_list(), totals, strict=True)]
        ax.bar(keys, share, bottom=bottom, color=colour, label=status.replace("_", " "))
        bottom = [a + b for a, b in zip(bottom, share, strict=True)]
    ax.set_ylabel("% of decision points")
    ax.set_xlabel("year of decision")
    ax.set_title("Concordance over time")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=8)
    return _save(fig, out_dir, "concordance_over_time")


def write_plots(concordance: pl.DataFrame, out_dir: str | Path) -> list[Path]:
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    return by_row(concordance, d) + over_time(concordance, d)
