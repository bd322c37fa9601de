"""Coaching reports for trainers: per agent, team or the whole centre, for a period.

Data first (`qa.report.data`: pandas frames in, a `Report` out), then renderers
(`qa.report.render`: HTML, PDF, XLSX, CSV). The store supplies the frames."""

from qa.report.data import EmptyReport, Report, ReportFrames, build_report
from qa.report.period import Period, parse_period
from qa.report.render import FORMATS, render_html, write_report

__all__ = ["EmptyReport", "Report", "ReportFrames", "build_report", "Period", "parse_period",
           "FORMATS", "render_html", "write_report"]
