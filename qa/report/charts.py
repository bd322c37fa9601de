"""Report charts as PNG bytes (matplotlib, no display). Chinese labels need a CJK font:
Noto Sans CJK (Debian's fonts-noto-cjk) is used when installed."""

from __future__ import annotations

import functools
import io

from qa.report.data import Report


@functools.lru_cache(maxsize=1)
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [n for n in ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei")
           if n in names]
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["font.sans-serif"] = cjk + ["DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["svg.hashsalt"] = "callqa"
    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    # No creation time or software version in the file: the same data, the same bytes.
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def score_trend(report: Report) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    labels = [p.label for p in report.trend]
    values = [p.mean_score for p in report.trend]
    ax.plot(range(len(values)), values, marker="o", color="#1f5fa8")
    if report.headline.comparison_mean is not None:
        ax.axhline(report.headline.comparison_mean, color="#999999", linestyle="--", linewidth=1,
                   label=report.headline.comparison_label)
        ax.legend(loc="lower right", fontsize=8)
    step = max(1, len(labels) // 10)
    ax.set_xticks(range(0, len(labels), step), [labels[i][-5:] for i in range(0, len(labels), step)],
                  fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("score %")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def item_pass_rates(report: Report) -> bytes:
    plt = _pyplot()
    items = list(report.items)
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(items) + 0.8))
    y = range(len(items))
    ax.barh([i + 0.2 for i in y], [100 * (i.pass_rate or 0) for i in items], height=0.4,
            color="#1f5fa8", label=report.title if report.scope == "agent" else "this period")
    if any(i.comparison_rate is not None for i in items) and report.scope != "center":
        ax.barh([i - 0.2 for i in y], [100 * (i.comparison_rate or 0) for i in items], height=0.4,
                color="#bbbbbb", label=report.headline.comparison_label)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(list(y), [i.name for i in items], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("pass rate %")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def distributions(report: Report) -> bytes:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.4))
    left.hist(report.silence or [0], bins=12, color="#6b8e23")
    left.set_title("longest silence per call (s)", fontsize=9)
    right.hist(report.speech_rate or [0], bins=12, color="#b8860b")
    right.set_title("agent speech rate (per minute)", fontsize=9)
    for ax in (left, right):
        ax.tick_params(labelsize=8)
    return _png(fig)


def all_charts(report: Report) -> dict[str, bytes]:
    return {"trend": score_trend(report), "item_rates": item_pass_rates(report),
            "distributions": distributions(report)}
